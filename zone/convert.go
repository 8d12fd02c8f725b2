package zone

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

type deviceReader func(name string) (data []byte, path string, err error)

func parseProject(data []byte, file string, read deviceReader) (*Project, error) {
	if len(data) > MaxFileSize {
		return nil, errAt(ErrTooLarge, file, 0, "file is %d bytes, limit %d", len(data), MaxFileSize)
	}
	var yp yProject
	root, err := decodeStrict(data, file, &yp)
	if err != nil {
		return nil, err
	}
	if len(yp.Partitions) > MaxItems || len(yp.Zones) > MaxItems {
		return nil, errAt(ErrTooLarge, file, 0, "more than %d partitions or zones", MaxItems)
	}
	p := &Project{Name: yp.Name, File: file}
	switch yp.Unassigned {
	case "", "error":
	case "secure":
		p.UnassignedSecure = true
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(root, "unassigned"), "unassigned: %q (want error or secure)", yp.Unassigned)
	}
	switch yp.Mode {
	case "", "trustzone":
	case "mpu":
		p.Mode = "mpu"
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(root, "mode"), "mode: %q (want trustzone or mpu)", yp.Mode)
	}
	// The device.
	switch {
	case yp.Device != "" && yp.DeviceDescription != nil:
		return nil, errAt(ErrSyntax, file, fieldLine(root, "device_description"), "give device or device_description, not both")
	case yp.DeviceDescription != nil:
		p.Device, err = convertDevice(yp.DeviceDescription, file, child(root, "device_description"))
	case yp.Device != "":
		p.Device, err = resolveDevice(yp.Device, read)
		if err != nil {
			err = errAt(ErrReference, file, fieldLine(root, "device"), "device: %v", err)
		}
	default:
		err = errAt(ErrSyntax, file, line(root), "device: missing (a built-in name, a device file, or device_description)")
	}
	if err != nil {
		return nil, err
	}
	if p.Name == "" {
		p.Name = p.Device.Name
	}
	// Partitions.
	pn := child(root, "partitions")
	for i, yp := range yp.Partitions {
		n := item(pn, i)
		if yp.Name == "" {
			return nil, errAt(ErrSyntax, file, line(n), "partitions[%d].name: missing", i)
		}
		if yp.Memory == "" {
			return nil, errAt(ErrSyntax, file, line(n), "partitions[%s].memory: missing", yp.Name)
		}
		if yp.Size == nil {
			return nil, errAt(ErrSyntax, file, line(n), "partitions[%s].size: missing", yp.Name)
		}
		sec, err := ParseSecurity(yp.Security)
		if err != nil {
			return nil, errAt(ErrSyntax, file, fieldLine(n, "security"), "partitions[%s].security: %v", yp.Name, err)
		}
		if err := checkAccess(yp.Access); err != nil {
			return nil, errAt(ErrSyntax, file, fieldLine(n, "access"), "partitions[%s].access: %v", yp.Name, err)
		}
		priv, err := parsePrivilege(yp.Privilege)
		if err != nil {
			return nil, errAt(ErrSyntax, file, fieldLine(n, "privilege"), "partitions[%s].privilege: %v", yp.Name, err)
		}
		part := &Partition{Name: yp.Name, MemoryName: yp.Memory, Size: uint64(*yp.Size), Security: sec,
			Access: yp.Access, Privilege: priv, Startup: yp.Startup, Line: line(n)}
		if yp.Offset != nil {
			part.Offset = uint64(*yp.Offset)
		}
		p.Partitions = append(p.Partitions, part)
	}
	// Zones.
	zn := child(root, "zones")
	for i, yz := range yp.Zones {
		n := item(zn, i)
		if yz.Name == "" {
			return nil, errAt(ErrSyntax, file, line(n), "zones[%d].name: missing", i)
		}
		if len(yz.Partitions)+len(yz.Peripherals)+len(yz.Interrupts) > MaxItems {
			return nil, errAt(ErrTooLarge, file, line(n), "zones[%s]: more than %d references", yz.Name, MaxItems)
		}
		z := &Zone{Name: yz.Name, Parent: yz.Parent, Partitions: yz.Partitions, Peripherals: yz.Peripherals,
			Interrupts: yz.Interrupts, Line: line(n),
			PartitionLines:  seqLines(child(n, "partitions"), len(yz.Partitions)),
			PeripheralLines: seqLines(child(n, "peripherals"), len(yz.Peripherals)),
			InterruptLines:  seqLines(child(n, "interrupts"), len(yz.Interrupts))}
		switch yz.Kind {
		case "", "security":
			z.Kind = ZoneSecurity
		case "mpu":
			z.Kind = ZoneMPU
		default:
			return nil, errAt(ErrSyntax, file, fieldLine(n, "kind"), "zones[%s].kind: %q (want security or mpu)", yz.Name, yz.Kind)
		}
		if z.Security, err = ParseSecurity(yz.Security); err != nil {
			return nil, errAt(ErrSyntax, file, fieldLine(n, "security"), "zones[%s].security: %v", yz.Name, err)
		}
		if z.Kind == ZoneSecurity && z.Security != Secure && z.Security != NonSecure && p.Mode != "mpu" {
			return nil, errAt(ErrSyntax, file, fieldLine(n, "security"), "zones[%s].security: a security zone is secure or non-secure", yz.Name)
		}
		if z.Privilege, err = parsePrivilege(yz.Privilege); err != nil {
			return nil, errAt(ErrSyntax, file, fieldLine(n, "privilege"), "zones[%s].privilege: %v", yz.Name, err)
		}
		p.Zones = append(p.Zones, z)
	}
	if yp.FlashMap != nil {
		fm, err := convertFlashMap(yp.FlashMap, file, child(root, "flash_map"))
		if err != nil {
			return nil, err
		}
		p.FlashMap = fm
	}
	return p, nil
}

func resolveDevice(name string, read deviceReader) (*Device, error) {
	if d, err := BuiltinDevice(name); err == nil {
		return d, nil
	}
	if !strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("%q is not a built-in device (see rampart zone devices)", name)
	}
	if read == nil {
		return nil, fmt.Errorf("%q: device files can only be read by LoadProject", name)
	}
	data, path, err := read(name)
	if err != nil {
		return nil, err
	}
	return ParseDevice(data, path)
}

func parsePrivilege(s string) (string, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "p", "privileged":
		return "p", nil
	case "u", "unprivileged":
		return "u", nil
	}
	return "", fmt.Errorf("%q (want privileged or unprivileged)", s)
}

func checkAccess(a string) error {
	for _, c := range a {
		if !strings.ContainsRune("rwxp", c) {
			return fmt.Errorf("%q: letters r, w, x, p only", a)
		}
	}
	return nil
}

func convertFlashMap(y *yFlashMap, file string, n *yaml.Node) (*FlashMap, error) {
	if len(y.Areas) > MaxItems {
		return nil, errAt(ErrTooLarge, file, line(n), "flash_map: more than %d areas", MaxItems)
	}
	fm := &FlashMap{Memory: y.Memory, Sector: uint64(y.Sector), HeaderSize: uint64(y.HeaderSize),
		TrailerSize: uint64(y.TrailerSize), Line: line(n), Strategy: y.Strategy, WriteAlign: y.WriteAlign}
	switch fm.Strategy {
	case "":
		fm.Strategy = "swap-move"
	case "swap-move", "swap-scratch", "swap-offset", "overwrite-only":
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(n, "strategy"), "flash_map.strategy: %q (want swap-move, swap-scratch, swap-offset or overwrite-only)", y.Strategy)
	}
	switch fm.WriteAlign {
	case 0:
		fm.WriteAlign = 8
	case 1, 2, 4, 8, 16, 32:
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(n, "write_align"), "flash_map.write_align: %d (want 1, 2, 4, 8, 16 or 32)", y.WriteAlign)
	}
	an := child(n, "areas")
	ids := map[int]bool{}
	for i, ya := range y.Areas {
		in := item(an, i)
		if ya.Name == "" || ya.Offset == nil || ya.Size == nil {
			return nil, errAt(ErrSyntax, file, line(in), "flash_map.areas[%d]: name, offset and size are required", i)
		}
		a := &FlashArea{Name: ya.Name, Role: ya.Role, Image: ya.Image, Memory: ya.Memory,
			Offset: uint64(*ya.Offset), Size: uint64(*ya.Size), Line: line(in), ID: i}
		if a.Memory == "" {
			a.Memory = y.Memory
		}
		switch a.Role {
		case "bootloader", "primary", "secondary", "scratch", "storage", "ps", "its", "nv-counters", "other":
		case "":
			a.Role = "other"
		default:
			return nil, errAt(ErrSyntax, file, fieldLine(in, "role"), "flash_map.areas[%s].role: %q (want bootloader, primary, secondary, scratch, storage, ps, its, nv-counters or other)", a.Name, a.Role)
		}
		if ya.Image < 0 || ya.Image > 7 {
			return nil, errAt(ErrSyntax, file, fieldLine(in, "image"), "flash_map.areas[%s].image: %d (want 0..7)", a.Name, ya.Image)
		}
		if ya.ID != nil {
			a.ID = *ya.ID
		}
		if a.ID < 0 || a.ID > 255 || ids[a.ID] {
			return nil, errAt(ErrSyntax, file, fieldLine(in, "id"), "flash_map.areas[%s].id: %d is out of range or used twice", a.Name, a.ID)
		}
		ids[a.ID] = true
		fm.Areas = append(fm.Areas, a)
	}
	return fm, nil
}

func convertDevice(yd *yDevice, file string, n *yaml.Node) (*Device, error) {
	if yd.Name == "" {
		return nil, errAt(ErrSyntax, file, line(n), "device name: missing")
	}
	if len(yd.Memories) > MaxItems || len(yd.Peripherals) > MaxItems || len(yd.SAUInit) > MaxItems {
		return nil, errAt(ErrTooLarge, file, line(n), "device %s: more than %d memories, peripherals or regions", yd.Name, MaxItems)
	}
	d := &Device{Name: yd.Name, Vendor: yd.Vendor, Core: yd.Core, Interrupts: yd.Interrupts,
		MPU: MPUType(yd.MPU.Type), MPURegions: yd.MPU.Regions, MPURegionsNS: yd.MPU.RegionsNS,
		IDAU: yd.IDAU.Kind, IDAUFlashRegion: uint64(yd.IDAU.FlashRegion), IDAURAMRegion: uint64(yd.IDAU.RAMRegion), NSCCFG: uint64(yd.IDAU.NSCCFG),
		Sources: yd.Sources, File: file, Line: line(n)}
	d.TrustZone = yd.TrustZone == nil || *yd.TrustZone
	d.SAURegions = 8
	if yd.SAURegions != nil {
		d.SAURegions = *yd.SAURegions
	}
	switch d.SAURegions {
	case 0, 4, 8:
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(n, "sau_regions"), "device %s: sau_regions %d (Armv8-M implements 0, 4 or 8)", d.Name, d.SAURegions)
	}
	if d.Interrupts < 0 || d.Interrupts > 496 {
		return nil, errAt(ErrSyntax, file, fieldLine(n, "interrupts"), "device %s: interrupts %d (NVIC has at most 496)", d.Name, d.Interrupts)
	}
	switch d.MPU {
	case "":
		d.MPU = MPUNone
	case MPUNone, MPUv7M, MPUv8M:
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(child(n, "mpu"), "type"), "device %s: mpu.type %q (want none, armv7m or armv8m)", d.Name, d.MPU)
	}
	if d.MPURegions < 0 || d.MPURegions > 16 || d.MPURegionsNS < 0 || d.MPURegionsNS > 16 {
		return nil, errAt(ErrSyntax, file, line(child(n, "mpu")), "device %s: mpu regions must be 0..16", d.Name)
	}
	switch d.IDAU {
	case IDAUNone, IDAUNRFSPU, IDAUSAML11, IDAUAddress:
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(child(n, "idau"), "kind"), "device %s: idau.kind %q (want nrf-spu, saml11-fuses or address-bit)", d.Name, d.IDAU)
	}
	sn := child(n, "sau_init")
	for i, yf := range yd.SAUInit {
		in := item(sn, i)
		if yf.Start == nil || yf.Size == nil {
			return nil, errAt(ErrSyntax, file, line(in), "sau_init[%d]: start and size are required", i)
		}
		sec, err := ParseSecurity(yf.Security)
		if err != nil || sec == Secure {
			return nil, errAt(ErrSyntax, file, fieldLine(in, "security"), "sau_init[%d].security: %q (want non-secure or nsc)", i, yf.Security)
		}
		if sec == Unset {
			sec = NonSecure
		}
		d.SAUInit = append(d.SAUInit, FixedRegion{Name: yf.Name, Start: uint64(*yf.Start), Size: uint64(*yf.Size), Security: sec, Line: line(in)})
	}
	mn := child(n, "memories")
	for i, ym := range yd.Memories {
		in := item(mn, i)
		m, err := convertMemory(&ym, file, in, i)
		if err != nil {
			return nil, err
		}
		d.Memories = append(d.Memories, m)
	}
	pn := child(n, "peripherals")
	for i, yper := range yd.Peripherals {
		in := item(pn, i)
		if yper.Name == "" {
			return nil, errAt(ErrSyntax, file, line(in), "peripherals[%d].name: missing", i)
		}
		if yper.S == nil && yper.NS == nil {
			return nil, errAt(ErrSyntax, file, line(in), "peripherals[%s]: give its address as s, ns or both", yper.Name)
		}
		per := &Peripheral{Name: yper.Name, Group: yper.Group, Size: uint64(yper.Size), Line: line(in)}
		if yper.S != nil {
			per.S, per.HasS = uint64(*yper.S), true
		}
		if yper.NS != nil {
			per.NS, per.HasNS = uint64(*yper.NS), true
		}
		in2 := child(in, "interrupts")
		for j, yi := range yper.Interrupts {
			if yi.IRQ == nil || *yi.IRQ < 0 || *yi.IRQ >= 496 {
				return nil, errAt(ErrSyntax, file, line(item(in2, j)), "peripherals[%s].interrupts[%d].irq: missing or outside 0..495", per.Name, j)
			}
			name := yi.Name
			if name == "" {
				name = per.Name
			}
			per.Interrupts = append(per.Interrupts, Interrupt{Name: name, IRQ: *yi.IRQ})
		}
		for _, ys := range yper.Setup {
			per.Setup = append(per.Setup, Setup{Register: ys.Register, Value: uint64(ys.Value), Kind: ys.Kind})
		}
		d.Peripherals = append(d.Peripherals, per)
	}
	return d, nil
}

func convertMemory(ym *yMemory, file string, in *yaml.Node, i int) (*Memory, error) {
	if ym.Name == "" {
		return nil, errAt(ErrSyntax, file, line(in), "memories[%d].name: missing", i)
	}
	if ym.Size == nil || *ym.Size == 0 {
		return nil, errAt(ErrSyntax, file, fieldLine(in, "size"), "memories[%s].size: missing or zero", ym.Name)
	}
	m := &Memory{Name: ym.Name, Aliases: ym.Aliases, Size: uint64(*ym.Size), Access: ym.Access,
		Block: uint64(ym.Block), MPCBase: uint64(ym.MPCBase), Sector: uint64(ym.Sector), Line: line(in)}
	switch strings.ToLower(ym.Type) {
	case "rom", "flash":
		m.ROM = true
	case "ram", "":
	default:
		return nil, errAt(ErrSyntax, file, fieldLine(in, "type"), "memories[%s].type: %q (want rom, flash or ram)", ym.Name, ym.Type)
	}
	if err := checkAccess(ym.Access); err != nil {
		return nil, errAt(ErrSyntax, file, fieldLine(in, "access"), "memories[%s].access: %v", ym.Name, err)
	}
	sec, err := ParseSecurity(ym.Security)
	if err != nil {
		return nil, errAt(ErrSyntax, file, fieldLine(in, "security"), "memories[%s].security: %v", ym.Name, err)
	}
	m.Security = sec
	switch {
	case ym.S != nil || ym.NS != nil:
		if ym.S != nil {
			m.S, m.HasS = uint64(*ym.S), true
		}
		if ym.NS != nil {
			m.NS, m.HasNS = uint64(*ym.NS), true
		}
		switch {
		case ym.Physical != nil:
			m.Physical = uint64(*ym.Physical)
		case m.HasNS:
			m.Physical = m.NS
		default:
			m.Physical = m.S
		}
	case ym.Physical != nil:
		// One address for both states: the IDAU/SPU decides.
		m.Physical = uint64(*ym.Physical)
		m.S, m.NS, m.HasS, m.HasNS = m.Physical, m.Physical, true, true
	default:
		return nil, errAt(ErrSyntax, file, line(in), "memories[%s]: give its addresses as s and ns, or physical", ym.Name)
	}
	return m, nil
}
