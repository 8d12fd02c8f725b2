package capi

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed include
var headers embed.FS

// LibName is the library's name: libpsa-rampart.a, libpsa-rampart.so and
// the pkg-config package psa-rampart.
const LibName = "psa-rampart"

// libPackage is the cgo package compiled into the library.
const libPackage = "rampart/capi/libpsa"

// Options say what Build makes.
type Options struct {
	// Out is the installation prefix: Out/lib holds the libraries and
	// lib/pkgconfig/psa-rampart.pc, Out/include/psa the headers.
	Out string
	// Static and Shared select the archive and the shared library; both
	// when neither is set.
	Static, Shared bool
	// ModuleDir is the directory of Rampart's go.mod (the go command's
	// working directory); "" uses the current directory.
	ModuleDir string
	// Go is the go command; "" finds "go" on PATH.
	Go string
	// Stderr receives the go command's messages (nil: discarded).
	Stderr interface{ Write([]byte) (int, error) }
}

// Build compiles the library with the go command (cgo: a C compiler must be
// installed) and installs it, its headers and its pkg-config file under
// o.Out. It returns the paths of the libraries it made.
func Build(ctx context.Context, o Options) ([]string, error) {
	if o.Out == "" {
		return nil, errors.New("capi: no output directory")
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, fmt.Errorf("capi: %w", err)
	}
	if !o.Static && !o.Shared {
		o.Static, o.Shared = true, true
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	libDir := filepath.Join(out, "lib")
	if err := os.MkdirAll(filepath.Join(libDir, "pkgconfig"), 0o755); err != nil {
		return nil, fmt.Errorf("capi: %w", err)
	}
	var made []string
	for _, v := range []struct {
		on   bool
		mode string
		file string
	}{{o.Static, "c-archive", "lib" + LibName + ".a"}, {o.Shared, "c-shared", "lib" + LibName + ".so"}} {
		if !v.on {
			continue
		}
		dst := filepath.Join(libDir, v.file)
		// netgo and osusergo: the library resolves no host names and no
		// users, so it needs no libc resolver beyond what every C program links.
		cmd := exec.CommandContext(ctx, goCmd, "build", "-buildmode="+v.mode, "-trimpath",
			"-tags", "netgo,osusergo", "-o", dst, libPackage)
		cmd.Dir = o.ModuleDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if o.Stderr != nil {
			cmd.Stdout, cmd.Stderr = o.Stderr, o.Stderr
		}
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("capi: go build -buildmode=%s: %w", v.mode, err)
		}
		// cgo writes its own header of the exported Go functions beside the
		// library; C code uses the specification's headers instead.
		os.Remove(strings.TrimSuffix(dst, filepath.Ext(dst)) + ".h")
		made = append(made, dst)
	}
	if err := installHeaders(filepath.Join(out, "include")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(libDir, "pkgconfig", LibName+".pc"), []byte(PkgConfig(out)), 0o644); err != nil {
		return nil, fmt.Errorf("capi: %w", err)
	}
	return made, nil
}

// installHeaders writes the embedded headers under dir (dir/psa/*.h).
func installHeaders(dir string) error {
	return fs.WalkDir(headers, "include", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "include")))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := headers.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("capi: %w", err)
		}
		return nil
	})
}

// PkgConfig is the pkg-config file of a library installed under prefix.
// The Go runtime inside the library needs the thread library; a static link
// (pkg-config --static) gets it from Libs.private.
func PkgConfig(prefix string) string {
	return fmt.Sprintf(`prefix=%s
libdir=${prefix}/lib
includedir=${prefix}/include

Name: psa-rampart
Description: PSA Crypto, Secure Storage and Initial Attestation APIs over Rampart's SPE
Version: 1.0.0
Cflags: -I${includedir}
Libs: -L${libdir} -l%s
Libs.private: -lpthread
`, prefix, LibName)
}
