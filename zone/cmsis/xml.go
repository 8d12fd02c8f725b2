package cmsis

// XML shapes of .rzone and .azone (schemaVersion 0.2/0.3), only the parts Rampart uses.

type xRzone struct {
	Device    xDevice    `xml:"device"`
	Resources xResources `xml:"resources"`
}

type xDevice struct {
	Dname      string       `xml:"Dname,attr"`
	Dvendor    string       `xml:"Dvendor,attr"`
	Processors []xProcessor `xml:"processor"`
}

type xProcessor struct {
	Pname          string `xml:"Pname,attr"`
	Dcore          string `xml:"Dcore,attr"`
	Dtz            string `xml:"Dtz,attr"`
	Dmpu           string `xml:"Dmpu,attr"`
	DnumInterrupts string `xml:"DnumInterrupts,attr"`
	DnumSauRegions string `xml:"DnumSauRegions,attr"`
	DnumMpuRegions string `xml:"DnumMpuRegions,attr"`
}

type xResources struct {
	SAU         []xRegion `xml:"sau_init>region"`
	Memories    []xMemory `xml:"memories>memory"`
	MPCs        []xMPC    `xml:"memories>mpc"`
	Groups      []xGroup  `xml:"peripherals>group"`
	Peripherals []xPeriph `xml:"peripherals>peripheral"`
}

type xRegion struct {
	Start    string `xml:"start,attr"`
	Size     string `xml:"size,attr"`
	Security string `xml:"security,attr"`
	Info     string `xml:"info,attr"`
}

type xMemory struct {
	Name      string `xml:"name,attr"`
	Parent    string `xml:"parent,attr"`
	Type      string `xml:"type,attr"`
	Start     string `xml:"start,attr"`
	Physical  string `xml:"physical,attr"`
	Offset    string `xml:"offset,attr"`
	Size      string `xml:"size,attr"`
	Access    string `xml:"access,attr"`
	Security  string `xml:"security,attr"`
	Privilege string `xml:"privilege,attr"`
	Startup   string `xml:"startup,attr"`
}

type xMPC struct {
	Name    string `xml:"name,attr"`
	Start   string `xml:"start,attr"`
	Size    string `xml:"size,attr"`
	BlkSize string `xml:"blk_size,attr"`
}

type xGroup struct {
	Name        string    `xml:"name,attr"`
	Peripherals []xPeriph `xml:"peripheral"`
}

type xPeriph struct {
	Name       string   `xml:"name,attr"`
	Group      string   `xml:"group,attr"`
	Start      string   `xml:"start,attr"`
	StartS     string   `xml:"start_s,attr"`
	StartNS    string   `xml:"start_ns,attr"`
	Size       string   `xml:"size,attr"`
	Security   string   `xml:"security,attr"`
	Interrupts []xIRQ   `xml:"interrupt"`
	Slots      []xSlot  `xml:"slot"`
	Setup      []xSetup `xml:"setup"`
}

type xSlot struct {
	Name       string   `xml:"name,attr"`
	Interrupts []xIRQ   `xml:"interrupt"`
	Slots      []xSlot  `xml:"slot"`
	Setup      []xSetup `xml:"setup"`
}

type xIRQ struct {
	Name string `xml:"name,attr"`
	IRQn string `xml:"irqn,attr"`
}

type xSetup struct {
	Name      string `xml:"name,attr"`
	Value     string `xml:"value,attr"`
	Security  string `xml:"security,attr"`
	Privilege string `xml:"privilege,attr"`
}

type xAzone struct {
	Rzone     xName     `xml:"rzone"`
	Configure []xConfig `xml:"configure"`
	Memories  []xMemory `xml:"partition>memory"`
	Zones     []xZone   `xml:"zones>zone"`
}

type xName struct {
	Name string `xml:"name,attr"`
}

type xConfig struct {
	Mode string `xml:"mode,attr"`
}

type xZone struct {
	Name      string    `xml:"name,attr"`
	Pname     string    `xml:"Pname,attr"`
	Security  string    `xml:"security,attr"`
	Privilege string    `xml:"privilege,attr"`
	Assign    []xAssign `xml:"assign"`
}

type xAssign struct {
	Memory     string `xml:"memory,attr"`
	Group      string `xml:"group,attr"`
	Peripheral string `xml:"peripheral,attr"`
}
