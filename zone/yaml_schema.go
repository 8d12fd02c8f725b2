package zone

// The YAML schema: these structs mirror docs/zone-format.md field by field.
// Unknown fields are rejected by the decoder.

type yProject struct {
	Name              string     `yaml:"name"`
	Device            string     `yaml:"device,omitempty"`
	DeviceDescription *yDevice   `yaml:"device_description,omitempty"`
	Mode              string     `yaml:"mode,omitempty"`
	Unassigned        string     `yaml:"unassigned,omitempty"`
	Partitions        []yPart    `yaml:"partitions,omitempty"`
	Zones             []yZone    `yaml:"zones,omitempty"`
	FlashMap          *yFlashMap `yaml:"flash_map,omitempty"`
}

type yPart struct {
	Name      string `yaml:"name"`
	Memory    string `yaml:"memory,omitempty"`
	Offset    *Hex   `yaml:"offset,omitempty"`
	Size      *Hex   `yaml:"size,omitempty"`
	Security  string `yaml:"security,omitempty"`
	Access    string `yaml:"access,omitempty"`
	Privilege string `yaml:"privilege,omitempty"`
	Startup   bool   `yaml:"startup,omitempty"`
}

type yZone struct {
	Name        string   `yaml:"name"`
	Kind        string   `yaml:"kind,omitempty"`
	Security    string   `yaml:"security,omitempty"`
	Privilege   string   `yaml:"privilege,omitempty"`
	Parent      string   `yaml:"parent,omitempty"`
	Partitions  []string `yaml:"partitions,omitempty"`
	Peripherals []string `yaml:"peripherals,omitempty"`
	Interrupts  []string `yaml:"interrupts,omitempty"`
}

type yFlashMap struct {
	Memory      string   `yaml:"memory,omitempty"`
	Sector      Hex      `yaml:"sector,omitempty"`
	HeaderSize  Hex      `yaml:"header_size,omitempty"`
	TrailerSize Hex      `yaml:"trailer_size,omitempty"`
	Strategy    string   `yaml:"strategy,omitempty"`
	WriteAlign  int      `yaml:"write_align,omitempty"`
	Areas       []yFArea `yaml:"areas,omitempty"`
}

type yFArea struct {
	Name   string `yaml:"name"`
	Role   string `yaml:"role,omitempty"`
	Image  int    `yaml:"image,omitempty"`
	Memory string `yaml:"memory,omitempty"`
	Offset *Hex   `yaml:"offset,omitempty"`
	Size   *Hex   `yaml:"size,omitempty"`
	ID     *int   `yaml:"id,omitempty"`
}

type yDevice struct {
	Name        string    `yaml:"name"`
	Vendor      string    `yaml:"vendor,omitempty"`
	Core        string    `yaml:"core,omitempty"`
	TrustZone   *bool     `yaml:"trustzone,omitempty"`
	SAURegions  *int      `yaml:"sau_regions,omitempty"`
	Interrupts  int       `yaml:"interrupts,omitempty"`
	MPU         yMPU      `yaml:"mpu,omitempty"`
	IDAU        yIDAU     `yaml:"idau,omitempty"`
	Sources     []string  `yaml:"sources,omitempty"`
	SAUInit     []yFixed  `yaml:"sau_init,omitempty"`
	Memories    []yMemory `yaml:"memories,omitempty"`
	Peripherals []yPeriph `yaml:"peripherals,omitempty"`
}

type yMPU struct {
	Type      string `yaml:"type,omitempty"`
	Regions   int    `yaml:"regions,omitempty"`
	RegionsNS int    `yaml:"regions_ns,omitempty"`
}

type yIDAU struct {
	Kind        string `yaml:"kind,omitempty"`
	FlashRegion Hex    `yaml:"flash_region,omitempty"`
	RAMRegion   Hex    `yaml:"ram_region,omitempty"`
	NSCCFG      Hex    `yaml:"nsccfg,omitempty"`
}

type yFixed struct {
	Name     string `yaml:"name"`
	Start    *Hex   `yaml:"start,omitempty"`
	Size     *Hex   `yaml:"size,omitempty"`
	Security string `yaml:"security,omitempty"`
}

type yMemory struct {
	Name     string   `yaml:"name"`
	Aliases  []string `yaml:"aliases,omitempty"`
	Type     string   `yaml:"type,omitempty"`
	Size     *Hex     `yaml:"size,omitempty"`
	S        *Hex     `yaml:"s,omitempty"`
	NS       *Hex     `yaml:"ns,omitempty"`
	Physical *Hex     `yaml:"physical,omitempty"`
	Access   string   `yaml:"access,omitempty"`
	Security string   `yaml:"security,omitempty"`
	Block    Hex      `yaml:"block,omitempty"`
	MPCBase  Hex      `yaml:"mpc_base,omitempty"`
	Sector   Hex      `yaml:"sector,omitempty"`
	Source   string   `yaml:"source,omitempty"`
}

type yPeriph struct {
	Name       string   `yaml:"name"`
	Group      string   `yaml:"group,omitempty"`
	S          *Hex     `yaml:"s,omitempty"`
	NS         *Hex     `yaml:"ns,omitempty"`
	Size       Hex      `yaml:"size,omitempty"`
	Interrupts []yIRQ   `yaml:"interrupts,omitempty"`
	Setup      []ySetup `yaml:"setup,omitempty"`
}

type yIRQ struct {
	Name string `yaml:"name"`
	IRQ  *int   `yaml:"irq,omitempty"`
}

type ySetup struct {
	Register string `yaml:"register,omitempty"`
	Value    Hex    `yaml:"value,omitempty"`
	Kind     string `yaml:"kind,omitempty"`
}
