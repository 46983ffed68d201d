package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	// bin is the mcrm binary built once for the whole package.
	bin string
	// moduleRoot is the directory holding go.mod; examples/ live there.
	moduleRoot string
	// dataRoot is ../shared/data next to the module: the real data sets.
	dataRoot string
)

// TestMain builds the binary once: every test runs the same executable an
// operator would, not the package's functions in-process, so flag parsing,
// exit codes, stdout/stderr separation and signal handling are all real.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	moduleRoot = root
	dataRoot = filepath.Join(root, "..", "shared", "data")
	tmp, err := os.MkdirTemp("", "mcrm-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin = filepath.Join(tmp, "mcrm")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mcrm")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/mcrm: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findModuleRoot asks the go command (the test may run from any working
// directory under the module) and falls back to the parent directory.
func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the module root: %v", err)
	}
	return root, nil
}
