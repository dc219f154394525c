// Command cpuburn makes real CPU load for autoscaling tests, in one of three modes.
//
// Without a subcommand it burns a fixed number of millicores until it is stopped. The target
// comes from --millicores (or the MILLICORES environment variable) and, when the file named
// by --millicores-file exists, from that file, which is read again every second: mounted
// from a ConfigMap, it changes the load without restarting the pod. This mode opens no
// socket.
//
// "cpuburn serve" is an HTTP server whose every request to / costs --work-ms of CPU, and
// "cpuburn drive" sends it requests at a rate read from a file the same way. Behind a
// Service the load splits across the serving pods, so the more replicas there are, the less
// CPU each one uses, as with the HPA walkthrough's php-apache and load generator.
//
// Every mode exits 0 on SIGTERM or SIGINT.
package main

import "os"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve":
			os.Exit(runServe(os.Args[2:]))
		case "drive":
			os.Exit(runDrive(os.Args[2:]))
		}
	}
	os.Exit(runBurn(os.Args[1:]))
}
