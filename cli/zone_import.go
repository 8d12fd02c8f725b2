package cli

import (
	"os"

	"github.com/spf13/cobra"

	"rampart/zone"
)

func newZoneImportCmd(env *Env) *cobra.Command {
	var rz, az, out string
	cmd := &cobra.Command{
		Use:   "import --rzone R --azone A [-o FILE]",
		Short: "Convert a CMSIS-Zone .rzone/.azone pair into a Rampart zone YAML project",
		Long: `import reads a CMSIS-Zone resource file and assignment file and writes the same project
as Rampart YAML (device inline), which rampart zone check and generate read like any other.
Importer remarks (vendor data it corrected) are kept as comments at the top.`,
		Example: `  rampart zone import --rzone STM32L5.rzone --azone STM32L5.azone -o stm32l5.yaml
  rampart zone import --rzone LPC55S69.rzone --azone LPC55S69.azone`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rz == "" || az == "" {
				return usageError("--rzone and --azone are required")
			}
			p, err := loadZone(nil, rz, az)
			if err != nil {
				return err
			}
			y, err := zone.MarshalProject(p)
			if err != nil {
				return fail(ExitError, err, "")
			}
			if out == "" {
				_, err = env.Stdout.Write(y)
			} else {
				err = os.WriteFile(out, y, 0o644)
			}
			if err != nil {
				return fail(ExitError, err, "")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rz, "rzone", "", "CMSIS-Zone resource file (.rzone)")
	cmd.Flags().StringVar(&az, "azone", "", "CMSIS-Zone assignment file (.azone)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the YAML here instead of standard output")
	return cmd
}
