// Command rampart is the single binary of the Rampart toolkit. It only wires the
// CLI package to the process: all behaviour lives in the packages it calls.
package main

import (
	"os"

	"rampart/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.StdEnv()))
}
