package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"rampart/zone"
	"rampart/zone/cmsis"
)

func init() { register("zone", newZoneCmd) }

func newZoneCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zone",
		Short: "Partition a TrustZone MCU into Secure / Non-secure / NSC / MPU zones; check and generate its setup",
		Long: `zone is Rampart's Architect stage, a text-file CMSIS-Zone: a project file assigns a
device's memories, peripherals and interrupts to zones; "check" verifies the SAU, MPU, MPC
and IDAU rules; "generate" writes the CMSIS partition header, linker scripts, layout
headers, TF-M and Zephyr flash layouts, the flash map, an SVG and a Markdown table.
The file format is described in docs/zone-format.md.`,
		Example: `  rampart zone devices
  rampart zone check examples/zone/stm32l552-blinky.yaml
  rampart zone generate examples/zone/an505-demo.yaml --out build/zone
  rampart zone generate --rzone STM32L5.rzone --azone STM32L5.azone --out build/zone
  rampart zone import --rzone STM32L5.rzone --azone STM32L5.azone -o stm32l5.yaml`,
	}
	cmd.AddCommand(newZoneCheckCmd(env), newZoneGenerateCmd(env), newZoneDevicesCmd(env), newZoneImportCmd(env))
	return cmd
}

// loadZone reads a YAML project or a CMSIS-Zone pair.
func loadZone(args []string, rz, az string) (*zone.Project, error) {
	switch {
	case rz != "" || az != "":
		if rz == "" || az == "" {
			return nil, usageError("--rzone and --azone go together")
		}
		if len(args) != 0 {
			return nil, usageError("give a YAML project file or --rzone/--azone, not both")
		}
		p, err := cmsis.Load(rz, az)
		return p, zoneLoadError(err)
	case len(args) == 1:
		p, err := zone.LoadProject(args[0])
		return p, zoneLoadError(err)
	default:
		return nil, usageError("give one project file (or --rzone R --azone A)")
	}
}

func zoneLoadError(err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{zone.ErrSyntax, zone.ErrReference, zone.ErrTooLarge, cmsis.ErrFormat} {
		if errors.Is(err, e) {
			return fail(ExitFailure, err, "see docs/zone-format.md for the file format")
		}
	}
	return fail(ExitError, err, "")
}

type zoneReport struct {
	Project     string            `json:"project"`
	Device      string            `json:"device"`
	OK          bool              `json:"ok"`
	Errors      int               `json:"errors"`
	Warnings    int               `json:"warnings"`
	Diagnostics []zone.Diagnostic `json:"diagnostics"`
	SAU         []zoneSAU         `json:"sau,omitempty"`
	ITNS        []string          `json:"itns,omitempty"`
}

type zoneSAU struct {
	Start  string   `json:"start"`
	End    string   `json:"end"`
	NSC    bool     `json:"nsc"`
	Covers []string `json:"covers"`
}

func newZoneCheckCmd(env *Env) *cobra.Command {
	var rz, az string
	var asJSON, strict bool
	cmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a zone project (YAML, or a CMSIS-Zone .rzone/.azone pair)",
		Long: `check loads a project and applies every rule: overlaps, regions inside their memory,
SAU and MPU granularity and budgets, MPC blocks, IDAU rules (nRF SPU, SAM L11), NSC in
secure code, peripherals and interrupts each in exactly one security state, and the flash
map. Errors and warnings are printed as file:line. Exit 0 when there is no error, 1 otherwise
(with --strict, warnings fail the check too).`,
		Example: `  rampart zone check examples/zone/stm32l552-blinky.yaml
  rampart zone check --strict --json examples/zone/nrf5340-app.yaml
  rampart zone check --rzone LPC55S69.rzone --azone LPC55S69.azone`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadZone(args, rz, az)
			if err != nil {
				return err
			}
			l := zone.Analyze(p)
			rep := zoneReport{Project: p.Name, Device: p.Device.Name, Diagnostics: l.Diagnostics}
			for _, d := range l.Diagnostics {
				if d.Severity == zone.Error {
					rep.Errors++
				} else {
					rep.Warnings++
				}
			}
			rep.OK = rep.Errors == 0 && (!strict || rep.Warnings == 0)
			for _, r := range l.SAU {
				rep.SAU = append(rep.SAU, zoneSAU{Start: fmt.Sprintf("0x%08X", r.Start), End: fmt.Sprintf("0x%08X", r.End()), NSC: r.NSC, Covers: r.Names})
			}
			for _, w := range l.ITNS {
				rep.ITNS = append(rep.ITNS, fmt.Sprintf("0x%08X", w))
			}
			if asJSON {
				if rep.Diagnostics == nil {
					rep.Diagnostics = []zone.Diagnostic{}
				}
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return fail(ExitError, err, "")
				}
			} else {
				for _, d := range l.Diagnostics {
					fmt.Fprintln(env.Stdout, d.String())
				}
				for i, r := range rep.SAU {
					kind := "non-secure"
					if r.NSC {
						kind = "nsc"
					}
					fmt.Fprintf(env.Stdout, "SAU %d: %s..%s %s (%s)\n", i, r.Start, r.End, kind, strings.Join(r.Covers, ", "))
				}
				fmt.Fprintf(env.Stdout, "%s on %s: %d errors, %d warnings\n", p.Name, p.Device.Name, rep.Errors, rep.Warnings)
			}
			if !rep.OK {
				if rep.Errors == 0 {
					return fail(ExitFailure, fmt.Errorf("zone: %s: %d warnings with --strict", p.Name, rep.Warnings), "fix the warnings listed above, or drop --strict")
				}
				return fail(ExitFailure, fmt.Errorf("zone: %s: %d errors", p.Name, rep.Errors), "fix the errors listed above")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rz, "rzone", "", "CMSIS-Zone resource file (.rzone)")
	cmd.Flags().StringVar(&az, "azone", "", "CMSIS-Zone assignment file (.azone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors (for CI)")
	return cmd
}

func newZoneGenerateCmd(env *Env) *cobra.Command {
	var rz, az, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "generate [FILE] --out DIR",
		Short: "Check a zone project and write its partition header, linker scripts, layouts and maps",
		Long: `generate checks the project (and refuses to write anything if it has errors), then writes
into DIR: partition_<device>.h (CMSIS SAU_INIT_* / NVIC_INIT_ITNS*), one GNU ld script per
security zone, mem_layout.h, mpu_config.h for MPU zones, spu_config.h for nRF SPU devices,
and with a flash_map: flash_layout.h, region_defs.h (TF-M), mcuboot_partitions.overlay
(Zephyr) and flash_map.yaml (rampart boot); plus memory_map.svg and memory_map.md.`,
		Example: `  rampart zone generate examples/zone/an505-demo.yaml --out build/zone
  rampart zone generate --rzone STM32L5.rzone --azone STM32L5.azone --out build/stm32l5`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("--out DIR is required")
			}
			p, err := loadZone(args, rz, az)
			if err != nil {
				return err
			}
			l := zone.Analyze(p)
			for _, d := range l.Diagnostics {
				fmt.Fprintln(env.Stderr, d.String())
			}
			files, err := zone.Generate(l)
			if err != nil {
				return fail(ExitFailure, err, "run rampart zone check for the full list")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fail(ExitError, err, "")
			}
			var names []string
			for _, f := range files {
				path := filepath.Join(out, filepath.Base(f.Name))
				if err := os.WriteFile(path, f.Data, 0o644); err != nil {
					return fail(ExitError, err, "")
				}
				names = append(names, path)
			}
			if asJSON {
				return json.NewEncoder(env.Stdout).Encode(map[string]any{"written": names})
			}
			for _, n := range names {
				fmt.Fprintln(env.Stdout, n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rz, "rzone", "", "CMSIS-Zone resource file (.rzone)")
	cmd.Flags().StringVar(&az, "azone", "", "CMSIS-Zone assignment file (.azone)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "directory to write the generated files into")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the written paths as JSON")
	return cmd
}

func newZoneDevicesCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the built-in device descriptions",
		Example: `  rampart zone devices
  rampart zone devices --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := zone.BuiltinDevices()
			if err != nil {
				return fail(ExitError, err, "")
			}
			type mem struct {
				Name string `json:"name"`
				S    string `json:"s,omitempty"`
				NS   string `json:"ns,omitempty"`
				Size string `json:"size"`
			}
			type dev struct {
				Name       string   `json:"name"`
				Vendor     string   `json:"vendor"`
				Core       string   `json:"core"`
				SAURegions int      `json:"sau_regions"`
				IDAU       string   `json:"idau,omitempty"`
				MPU        string   `json:"mpu"`
				Memories   []mem    `json:"memories"`
				Sources    []string `json:"sources"`
			}
			var list []dev
			for _, d := range ds {
				v := dev{Name: d.Name, Vendor: d.Vendor, Core: d.Core, SAURegions: d.SAURegions, IDAU: d.IDAU,
					MPU: fmt.Sprintf("%s x%d", d.MPU, d.MPURegions), Sources: d.Sources}
				for _, m := range d.Memories {
					mm := mem{Name: m.Name, Size: fmt.Sprintf("0x%X", m.Size)}
					if m.HasS {
						mm.S = fmt.Sprintf("0x%08X", m.S)
					}
					if m.HasNS {
						mm.NS = fmt.Sprintf("0x%08X", m.NS)
					}
					v.Memories = append(v.Memories, mm)
				}
				list = append(list, v)
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			for _, d := range list {
				idau := ""
				if d.IDAU != "" {
					idau = ", IDAU " + d.IDAU
				}
				fmt.Fprintf(env.Stdout, "%-14s %-20s %s, %d SAU regions%s, MPU %s\n", d.Name, d.Vendor, d.Core, d.SAURegions, idau, d.MPU)
				for _, m := range d.Memories {
					fmt.Fprintf(env.Stdout, "    %-10s size %-8s secure %-10s non-secure %s\n", m.Name, m.Size, m.S, m.NS)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the devices as JSON")
	return cmd
}
