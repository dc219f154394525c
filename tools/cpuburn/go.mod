module podpilot.dev/tools/cpuburn

go 1.26
