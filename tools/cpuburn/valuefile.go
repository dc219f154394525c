package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// valueFile is a number in a file, typically a ConfigMap key mounted into the pod, that a
// test may change at any time; it is read again every second.
type valueFile[T int | float64] struct {
	path  string
	parse func(string) (T, error)
	max   T
	unit  string
	// lastRejected keeps a bad file from being reported every second.
	lastRejected string
}

// read returns the file's value, or false when the file is missing or holds no number in
// 0..max.
func (f *valueFile[T]) read() (T, bool) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return 0, false
	}
	text := strings.TrimSpace(string(data))
	value, err := f.parse(text)
	// value != value is NaN, which ParseFloat accepts and no comparison rejects.
	if err != nil || value != value || value < 0 || value > f.max {
		if text != f.lastRejected {
			fmt.Fprintf(os.Stderr, "cpuburn: ignoring %s (%q): want 0..%v %s\n",
				f.path, text, f.max, f.unit)
			f.lastRejected = text
		}
		return 0, false
	}
	return value, true
}

func parseFloat(text string) (float64, error) {
	return strconv.ParseFloat(text, 64)
}

func envInt(name string, fallback int) int {
	if value, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return value
	}
	return fallback
}

func envFloat(name string, fallback float64) float64 {
	if value, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return value
	}
	return fallback
}

func envString(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
