// Command psa-capi builds libpsa-rampart (the PSA C APIs over Rampart's SPE)
// and installs it, its headers and its pkg-config file:
//
//	go run ./cmd/psa-capi -out DIR [-static|-shared]
//
// run from Rampart's module (cgo needs a C compiler). DIR/lib then holds
// libpsa-rampart.a, libpsa-rampart.so and pkgconfig/psa-rampart.pc,
// DIR/include/psa the headers. Exit codes: 0 built, 1 the build failed, 2
// bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"rampart/capi"
)

func main() {
	fs := flag.NewFlagSet("psa-capi", flag.ContinueOnError)
	out := fs.String("out", "", "installation prefix (required)")
	static := fs.Bool("static", false, "build only the static archive")
	shared := fs.Bool("shared", false, "build only the shared library")
	if err := fs.Parse(os.Args[1:]); err != nil || *out == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: psa-capi -out DIR [-static|-shared]")
		os.Exit(2)
	}
	made, err := capi.Build(context.Background(), capi.Options{Out: *out, Static: *static, Shared: *shared, Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "psa-capi:", err)
		os.Exit(1)
	}
	for _, p := range made {
		fmt.Println(p)
	}
}
