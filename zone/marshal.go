package zone

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MarshalProject writes p in the YAML project format, so that ParseProject
// reads back an equal project. A built-in device is written by name, any
// other device inline (device_description). Importer notes become comments.
func MarshalProject(p *Project) ([]byte, error) {
	if p == nil || p.Device == nil {
		return nil, fmt.Errorf("%w: project without a device", ErrSyntax)
	}
	yp := yProject{Name: p.Name, Mode: p.Mode}
	if p.UnassignedSecure {
		yp.Unassigned = "secure"
	}
	if strings.HasPrefix(p.Device.File, "builtin:") {
		yp.Device = p.Device.Name
	} else {
		yp.DeviceDescription = marshalDevice(p.Device)
	}
	for _, pt := range p.Partitions {
		off, size := Hex(pt.Offset), Hex(pt.Size)
		yp.Partitions = append(yp.Partitions, yPart{Name: pt.Name, Memory: pt.MemoryName, Offset: &off, Size: &size,
			Security: pt.Security.String(), Access: pt.Access, Privilege: pt.Privilege, Startup: pt.Startup})
	}
	for _, z := range p.Zones {
		yz := yZone{Name: z.Name, Kind: string(z.Kind), Security: z.Security.String(), Privilege: z.Privilege, Parent: z.Parent,
			Partitions: z.Partitions, Peripherals: z.Peripherals, Interrupts: z.Interrupts}
		if z.Kind == ZoneSecurity {
			yz.Kind = ""
		}
		yp.Zones = append(yp.Zones, yz)
	}
	if fm := p.FlashMap; fm != nil {
		yf := &yFlashMap{Memory: fm.Memory, Sector: Hex(fm.Sector), HeaderSize: Hex(fm.HeaderSize), TrailerSize: Hex(fm.TrailerSize),
			Strategy: fm.Strategy, WriteAlign: fm.WriteAlign}
		for _, a := range fm.Areas {
			off, size, id := Hex(a.Offset), Hex(a.Size), a.ID
			yf.Areas = append(yf.Areas, yFArea{Name: a.Name, Role: a.Role, Image: a.Image, Memory: a.Memory, Offset: &off, Size: &size, ID: &id})
		}
		yp.FlashMap = yf
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Rampart zone project (docs/zone-format.md).\n")
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "# note: %s\n", strings.ReplaceAll(n, "\n", " "))
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yp); err != nil {
		return nil, fmt.Errorf("zone: marshal: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("zone: marshal: %w", err)
	}
	return b.Bytes(), nil
}

func marshalDevice(d *Device) *yDevice {
	tz, sau := d.TrustZone, d.SAURegions
	yd := &yDevice{Name: d.Name, Vendor: d.Vendor, Core: d.Core, TrustZone: &tz, SAURegions: &sau, Interrupts: d.Interrupts,
		MPU:     yMPU{Type: string(d.MPU), Regions: d.MPURegions, RegionsNS: d.MPURegionsNS},
		IDAU:    yIDAU{Kind: d.IDAU, FlashRegion: Hex(d.IDAUFlashRegion), RAMRegion: Hex(d.IDAURAMRegion), NSCCFG: Hex(d.NSCCFG)},
		Sources: d.Sources}
	for _, f := range d.SAUInit {
		start, size := Hex(f.Start), Hex(f.Size)
		yd.SAUInit = append(yd.SAUInit, yFixed{Name: f.Name, Start: &start, Size: &size, Security: f.Security.String()})
	}
	for _, m := range d.Memories {
		size := Hex(m.Size)
		ym := yMemory{Name: m.Name, Aliases: m.Aliases, Type: "ram", Size: &size, Access: m.Access, Security: m.Security.String(),
			Block: Hex(m.Block), MPCBase: Hex(m.MPCBase), Sector: Hex(m.Sector)}
		if m.ROM {
			ym.Type = "rom"
		}
		phys := Hex(m.Physical)
		if m.HasS && m.HasNS && m.S == m.Physical && m.NS == m.Physical {
			ym.Physical = &phys
		} else {
			if m.HasS {
				v := Hex(m.S)
				ym.S = &v
			}
			if m.HasNS {
				v := Hex(m.NS)
				ym.NS = &v
			}
			ym.Physical = &phys
		}
		yd.Memories = append(yd.Memories, ym)
	}
	for _, per := range d.Peripherals {
		yp := yPeriph{Name: per.Name, Group: per.Group, Size: Hex(per.Size)}
		if per.HasS {
			v := Hex(per.S)
			yp.S = &v
		}
		if per.HasNS {
			v := Hex(per.NS)
			yp.NS = &v
		}
		for _, i := range per.Interrupts {
			n := i.IRQ
			yp.Interrupts = append(yp.Interrupts, yIRQ{Name: i.Name, IRQ: &n})
		}
		for _, s := range per.Setup {
			yp.Setup = append(yp.Setup, ySetup{Register: s.Register, Value: Hex(s.Value), Kind: s.Kind})
		}
		yd.Peripherals = append(yd.Peripherals, yp)
	}
	return yd
}
