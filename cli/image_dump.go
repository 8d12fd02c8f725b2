package cli

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"rampart/image"
)

func newImageDumpCmd(env *Env) *cobra.Command {
	var format, outFile string
	var asJSON, asYAML bool
	cmd := &cobra.Command{
		Use:     "dump [--json|--yaml] IMAGE",
		Aliases: []string{"dumpinfo"},
		Short:   "Print an image's header, TLV areas and trailer (imgtool dumpinfo)",
		Long: `Print the fields imgtool dumpinfo prints: the header, the protected and unprotected
TLV areas entry by entry, and, when bytes follow the TLV area, the trailer (magic,
image_ok, copy_done, swap_info, swap_size). --json and --yaml use dumpinfo's keys
(TLV data as hex in JSON, as !!binary in YAML). Dump checks the structure only;
use verify to check the hash and signature.`,
		Example: `  rampart image dump app.signed.bin
  rampart image dump --json app.signed.bin
  rampart image dump -f yaml -o info.yaml app.signed.bin`,
		Args: exactArgs(1, "one IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := imageDumpFormat(format, asJSON, asYAML, outFile != "")
			if err != nil {
				return err
			}
			data, _, _, err := imageReadImage(args[0], "image")
			if err != nil {
				return err
			}
			info, err := image.NewDumpInfo(filepath.Base(args[0]), data)
			if err != nil {
				return imageFailure(err)
			}
			w, closeFn, err := imageOutput(env, outFile)
			if err != nil {
				return err
			}
			if err := info.Write(w, f); err != nil {
				closeFn()
				return fail(ExitError, err, "")
			}
			return closeFn()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "human, yaml or json (default human; yaml with -o)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&asYAML, "yaml", false, "print as YAML")
	outFlag(cmd, &outFile, "write to this file", "outfile")
	cmd.Flags().BoolP("silent", "s", false, "accepted for imgtool compatibility; ignored (as by imgtool)")
	return cmd
}

// imageDumpFormat picks the format from -f, --json and --yaml: human by
// default, yaml when writing to a file.
func imageDumpFormat(format string, asJSON, asYAML, toFile bool) (image.DumpFormat, error) {
	if asJSON && asYAML {
		return 0, usageError("use only one of --json and --yaml")
	}
	switch {
	case asJSON:
		format = "json"
	case asYAML:
		format = "yaml"
	case format == "" && toFile:
		format = "yaml"
	}
	switch format {
	case "", "human":
		return image.DumpText, nil
	case "yaml":
		return image.DumpYAML, nil
	case "json":
		return image.DumpJSON, nil
	}
	return 0, usageError("-f/--format %q: want human, yaml or json", format)
}
