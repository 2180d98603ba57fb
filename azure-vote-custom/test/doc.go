// Package test checks the azure-vote-custom Helm chart, its CNAB bundle files
// and the repository's Dockerfile, without a cluster and without Docker.
//
// It is a module of its own so that Helm and the Kubernetes API types stay out
// of the application's dependency graph. Run it with
//
//	cd azure-vote-custom/test && go test ./...
//
// -short skips the one slow test, the build of the image's binary.
package test
