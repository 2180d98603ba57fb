package test

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// maxBinary keeps the image under 25 MiB: the distroless static base adds
// about 2 MiB to the binary.
const maxBinary = (25 - 2) << 20

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// stages splits the instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.Cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// fromImage is the image of a FROM, without --platform and AS.
func fromImage(in instruction) string {
	for _, f := range strings.Fields(in.Args) {
		if !strings.HasPrefix(f, "--") {
			return f
		}
	}
	return ""
}

func TestDockerfile(t *testing.T) {
	st := stages(readDockerfile(t))
	if len(st) != 2 {
		t.Fatalf("%d stages, want a builder and a final image", len(st))
	}
	build, final := st[0], st[1]
	// Under GOTOOLCHAIN=local a Go image older than go.mod's go line
	// cannot build the module, and a floating tag may be older.
	if img, want := fromImage(build[0]), "golang:"+goModVersion(t); img != want && !strings.HasPrefix(img, want+"-") && !strings.HasPrefix(img, want+"@") {
		t.Errorf("builder FROM %s, want %s, the go line of go.mod", img, want)
	}
	if img := fromImage(final[0]); img != "gcr.io/distroless/static-debian12:nonroot" && !strings.HasPrefix(img, "gcr.io/distroless/static-debian12:nonroot@sha256:") {
		t.Errorf("final FROM %s, want gcr.io/distroless/static-debian12:nonroot", img)
	}
	// Marketplace takes linux/amd64 images only, whatever machine builds.
	if !strings.Contains(final[0].Args, "--platform=linux/amd64") {
		t.Errorf("final FROM %q: want --platform=linux/amd64", final[0].Args)
	}
	got := map[string][]string{}
	for _, in := range final[1:] {
		got[in.Cmd] = append(got[in.Cmd], in.Args)
	}
	// The final image has no shell, so nothing may RUN in it.
	if !slices.Contains(strings.Fields(strings.Join(got["EXPOSE"], " ")), "8080") {
		t.Errorf("EXPOSE %v lacks 8080", got["EXPOSE"])
	}
	if len(got["RUN"]) != 0 {
		t.Errorf("RUN in the final stage: %v", got["RUN"])
	}
	if !slices.Equal(got["COPY"], []string{"--from=build /azure-vote /azure-vote"}) {
		t.Errorf("final COPY %v, want only the binary from the builder", got["COPY"])
	}
	if u := got["USER"]; len(u) != 1 || (u[0] != "nonroot" && u[0] != "nonroot:nonroot" && u[0] != "65532" && u[0] != "65532:65532") {
		t.Errorf("USER %v, want the distroless nonroot user", u)
	}
	// Exec form: with no shell in the image the shell form cannot start.
	var entry []string
	if e := got["ENTRYPOINT"]; len(e) != 1 || json.Unmarshal([]byte(e[0]), &entry) != nil || !slices.Equal(entry, []string{"/azure-vote"}) {
		t.Errorf("ENTRYPOINT %v, want [\"/azure-vote\"] in exec form", got["ENTRYPOINT"])
	}
	assign, argv := buildCommand(t, "test")
	line := strings.Join(append(assign, argv...), " ")
	for _, want := range []string{"GOOS=linux", "GOARCH=amd64", "GOTOOLCHAIN=local", "CGO_ENABLED=0", "go build", "-trimpath", "-s -w -X main.version=test", "-o /azure-vote"} {
		if !strings.Contains(line, want) {
			t.Errorf("build command %q lacks %q", line, want)
		}
	}
}

// buildCommand extracts the Dockerfile's `go build` RUN line and expands it
// as BuildKit would for a native build with --build-arg VERSION=version:
// it returns the environment assignments and the argv.
func buildCommand(t *testing.T, version string) (assign, argv []string) {
	t.Helper()
	var run string
	args := map[string]string{}
	for _, in := range stages(readDockerfile(t))[0] {
		switch in.Cmd {
		case "ARG":
			name, def, _ := strings.Cut(in.Args, "=")
			args[name] = def
		case "RUN":
			if strings.Contains(in.Args, "go build") {
				run = in.Args
			}
		}
	}
	if run == "" {
		t.Fatal("no RUN with go build in the builder stage")
	}
	args["VERSION"] = version
	words, err := shellWords(os.Expand(run, func(k string) string { return args[k] }))
	if err != nil {
		t.Fatalf("RUN %q: %v", run, err)
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
		words = words[1:]
	}
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
		assign, words = append(assign, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("RUN %q: want [--mount=...] [VAR=value...] go build ...", run)
	}
	return assign, words
}

// shellWords splits a command line the way sh does for the plain words,
// single and double quotes a Dockerfile RUN line uses; anything fancier
// (pipes, &&, substitutions) is refused so the test never runs less than
// the Dockerfile does.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '"' || c == '\'':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c", c)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case strings.IndexByte("|&;<>()`$\\", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q is not supported here", c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// buildContext copies the repository as Docker sends it to the builder:
// without what .dockerignore excludes.
func buildContext(t *testing.T, dst string) {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil || rel == "." {
			return err
		}
		skip, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		switch {
		case skip && d.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case skip:
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func TestDockerignore(t *testing.T) {
	ctx := t.TempDir()
	buildContext(t, ctx)
	for _, gone := range []string{".git", "azure-vote-custom", "Dockerfile", "manifest.yaml", "mainTemplate.json", "createUIDefinition.json"} {
		if _, err := os.Stat(filepath.Join(ctx, gone)); err == nil {
			t.Errorf("%s is sent to the image builder", gone)
		}
	}
	for _, kept := range []string{"go.mod", "go.sum"} {
		if _, err := os.Stat(filepath.Join(ctx, kept)); err != nil {
			t.Errorf("%s is not sent to the image builder", kept)
		}
	}
}

// TestImageBinary builds the binary exactly as the Dockerfile does, from the
// files the Docker build would see, and checks it runs on a distroless
// static image: no dynamic loader, no shared libraries, a small size, and
// the version stamped in.
func TestImageBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the application")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	src := t.TempDir()
	buildContext(t, src)
	bin := filepath.Join(t.TempDir(), "azure-vote")
	assign, argv := buildCommand(t, "test")
	for i, a := range argv {
		if a == "-o" && i+1 < len(argv) {
			argv[i+1] = bin
		}
	}
	cmd := exec.Command(goTool, argv[1:]...)
	cmd.Dir = src
	// The golang image's environment: no GOFLAGS from this machine.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOFLAGS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, assign...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", strings.Join(assign, " "), strings.Join(argv, " "), err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("binary for %v, want x86-64: Marketplace runs linux/amd64 images", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary needs a dynamic loader the image does not have", p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Error("the binary has a .dynamic section")
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Errorf("the binary links %v", libs)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > maxBinary {
		t.Errorf("binary is %.2f MiB, want at most %.2f MiB", float64(st.Size())/(1<<20), float64(maxBinary)/(1<<20))
	}
	t.Logf("binary: %.2f MiB (%d bytes)", float64(st.Size())/(1<<20), st.Size())

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v, want CGO_ENABLED=0 and -trimpath", settings)
	}
	// -trimpath keeps -ldflags out of the build info, and -X on a variable
	// that does not exist is silently ignored: ask the binary itself.
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("test")) {
		t.Errorf("azure-vote version: %q, %v; want the stamped version test", out, err)
	}
}

// goModVersion is the go line of the application's go.mod.
func goModVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}
