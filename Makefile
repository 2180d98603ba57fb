# The two commands a newcomer needs: `go run .` runs the app, `make test`
# runs every test, installing what the tests need where it is missing.

GO ?= go

.PHONY: test test-deps vet unit chart bench run

test: test-deps vet unit chart

# Tests start their own redis-server on a free port; it must be installed.
test-deps:
	@./.ci/install-deps

# The kit (metering/) is its own module, with the lowest Go it needs: vet's
# stdversion check refuses newer standard library calls there.
vet:
	$(GO) vet ./...
	cd metering && $(GO) vet ./...
	cd metering/examples/widgets && $(GO) vet ./...
	cd azure-vote-custom/test && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...
	cd metering && $(GO) test -race -count=1 ./...
	# The billing schedule search at full count (the race run tries fewer).
	cd metering && $(GO) test -count=1 -run TestScheduleSearch .
	# The kit's example program, its own module as an ISV's would be.
	cd metering/examples/widgets && $(GO) test -count=1 ./...

# The chart's tests live in their own module so Helm stays out of the app's.
# The first run builds kube-apiserver, which takes long on a fresh machine.
chart:
	cd azure-vote-custom/test && $(GO) test -count=1 -timeout 60m ./...

bench:
	$(GO) run ./bench

run:
	$(GO) run .
