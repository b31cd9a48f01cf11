package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// TestExamplesAreValid keeps the example files the docs point at honest: each passes `check --no-secrets` (their
// secret files are on no machine that runs the tests).
func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), "test", []string{"check", "--no-secrets", "-c", f}, &out, &errOut); code != 0 {
			t.Errorf("%s: exit %d\n%s", f, code, errOut.String())
		}
	}
}
