package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMillicoresFile(t *testing.T) {
	cases := []struct {
		text  string
		value int
		ok    bool
	}{
		{"250\n", 250, true},
		{"  0 ", 0, true},
		{"64000", 64000, true},
		{"64001", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		file := valueFile[int]{path: writeFile(t, c.text), parse: strconv.Atoi, max: maxMillicores}
		value, ok := file.read()
		if value != c.value || ok != c.ok {
			t.Errorf("%q: got (%d, %t), want (%d, %t)", c.text, value, ok, c.value, c.ok)
		}
	}
}

func TestRateFile(t *testing.T) {
	cases := []struct {
		text  string
		value float64
		ok    bool
	}{
		{"10\n", 10, true},
		{"0.5", 0.5, true},
		{"0", 0, true},
		{"1000", 1000, true},
		{"1001", 0, false},
		{"-2", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"ten", 0, false},
	}
	for _, c := range cases {
		file := valueFile[float64]{path: writeFile(t, c.text), parse: parseFloat, max: maxRate}
		value, ok := file.read()
		if value != c.value || ok != c.ok {
			t.Errorf("%q: got (%g, %t), want (%g, %t)", c.text, value, ok, c.value, c.ok)
		}
	}
}

func TestAMissingFileIsNoValue(t *testing.T) {
	file := valueFile[float64]{path: filepath.Join(t.TempDir(), "absent"), parse: parseFloat, max: 1}
	if _, ok := file.read(); ok {
		t.Error("a missing file gave a value")
	}
}
