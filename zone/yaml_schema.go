package zone

// The YAML schema: these structs mirror docs/zone-format.md field by field.
// Unknown fields are rejected by the decoder.

type yProject struct {
	Name              string     `yaml:"name"`
	Device            string     `yaml:"device"`
	DeviceDescription *yDevice   `yaml:"device_description"`
	Mode              string     `yaml:"mode"`
	Unassigned        string     `yaml:"unassigned"`
	Partitions        []yPart    `yaml:"partitions"`
	Zones             []yZone    `yaml:"zones"`
	FlashMap          *yFlashMap `yaml:"flash_map"`
}

type yPart struct {
	Name      string `yaml:"name"`
	Memory    string `yaml:"memory"`
	Offset    *Hex   `yaml:"offset"`
	Size      *Hex   `yaml:"size"`
	Security  string `yaml:"security"`
	Access    string `yaml:"access"`
	Privilege string `yaml:"privilege"`
	Startup   bool   `yaml:"startup"`
}

type yZone struct {
	Name        string   `yaml:"name"`
	Kind        string   `yaml:"kind"`
	Security    string   `yaml:"security"`
	Privilege   string   `yaml:"privilege"`
	Parent      string   `yaml:"parent"`
	Partitions  []string `yaml:"partitions"`
	Peripherals []string `yaml:"peripherals"`
	Interrupts  []string `yaml:"interrupts"`
}

type yFlashMap struct {
	Memory      string   `yaml:"memory"`
	Sector      Hex      `yaml:"sector"`
	HeaderSize  Hex      `yaml:"header_size"`
	TrailerSize Hex      `yaml:"trailer_size"`
	Strategy    string   `yaml:"strategy"`
	WriteAlign  int      `yaml:"write_align"`
	Areas       []yFArea `yaml:"areas"`
}

type yFArea struct {
	Name   string `yaml:"name"`
	Role   string `yaml:"role"`
	Image  int    `yaml:"image"`
	Memory string `yaml:"memory"`
	Offset *Hex   `yaml:"offset"`
	Size   *Hex   `yaml:"size"`
	ID     *int   `yaml:"id"`
}

type yDevice struct {
	Name        string    `yaml:"name"`
	Vendor      string    `yaml:"vendor"`
	Core        string    `yaml:"core"`
	TrustZone   *bool     `yaml:"trustzone"`
	SAURegions  *int      `yaml:"sau_regions"`
	Interrupts  int       `yaml:"interrupts"`
	MPU         yMPU      `yaml:"mpu"`
	IDAU        yIDAU     `yaml:"idau"`
	Sources     []string  `yaml:"sources"`
	SAUInit     []yFixed  `yaml:"sau_init"`
	Memories    []yMemory `yaml:"memories"`
	Peripherals []yPeriph `yaml:"peripherals"`
}

type yMPU struct {
	Type      string `yaml:"type"`
	Regions   int    `yaml:"regions"`
	RegionsNS int    `yaml:"regions_ns"`
}

type yIDAU struct {
	Kind        string `yaml:"kind"`
	FlashRegion Hex    `yaml:"flash_region"`
	RAMRegion   Hex    `yaml:"ram_region"`
}

type yFixed struct {
	Name     string `yaml:"name"`
	Start    *Hex   `yaml:"start"`
	Size     *Hex   `yaml:"size"`
	Security string `yaml:"security"`
}

type yMemory struct {
	Name     string   `yaml:"name"`
	Aliases  []string `yaml:"aliases"`
	Type     string   `yaml:"type"`
	Size     *Hex     `yaml:"size"`
	S        *Hex     `yaml:"s"`
	NS       *Hex     `yaml:"ns"`
	Physical *Hex     `yaml:"physical"`
	Access   string   `yaml:"access"`
	Security string   `yaml:"security"`
	Block    Hex      `yaml:"block"`
	Sector   Hex      `yaml:"sector"`
	Source   string   `yaml:"source"`
}

type yPeriph struct {
	Name       string   `yaml:"name"`
	Group      string   `yaml:"group"`
	S          *Hex     `yaml:"s"`
	NS         *Hex     `yaml:"ns"`
	Size       Hex      `yaml:"size"`
	Interrupts []yIRQ   `yaml:"interrupts"`
	Setup      []ySetup `yaml:"setup"`
}

type yIRQ struct {
	Name string `yaml:"name"`
	IRQ  *int   `yaml:"irq"`
}

type ySetup struct {
	Register string `yaml:"register"`
	Value    Hex    `yaml:"value"`
	Kind     string `yaml:"kind"`
}
