package zone

import "strings"

// MPUType is the kind of memory protection unit a core has.
type MPUType string

// MPU kinds.
const (
	MPUNone MPUType = "none"
	MPUv7M  MPUType = "armv7m" // power-of-two regions, aligned to their size, 8 subregions (also Armv6-M)
	MPUv8M  MPUType = "armv8m" // base/limit regions, 32-byte granular, no overlap
)

// IDAU kinds with vendor-specific attribution settings.
const (
	IDAUNone    = ""
	IDAUNRFSPU  = "nrf-spu"      // Nordic nRF5340 SPU: flash/RAM regions, NSC sub-region at a region's top
	IDAUSAML11  = "saml11-fuses" // Microchip SAM L11: boot/application/data/RAM split set in the NVM user row
	IDAUAddress = "address-bit"  // an IDAU keyed on an address bit (Arm MPS2 AN505/AN521: bit 28 set = Secure)
)

// Device is a microcontroller's resources: what the hardware offers, before
// any assignment.
type Device struct {
	Name       string
	Vendor     string
	Core       string // e.g. Cortex-M33
	TrustZone  bool
	SAURegions int // 0, 4 or 8 (0: IDAU only)
	Interrupts int // number of external interrupts (NVIC lines)
	MPU        MPUType
	MPURegions int // per security state
	// MPURegionsNS is the Non-secure MPU's region count (0: same as MPURegions).
	MPURegionsNS int
	IDAU         string
	// IDAUFlashRegion and IDAURAMRegion are the attribution granules of an
	// IDAU chip (nRF5340 SPU: 16 KiB flash, 8 KiB RAM; SAM L11: 256 bytes).
	IDAUFlashRegion uint64
	IDAURAMRegion   uint64
	// NSCCFG is the address of an Arm IoT Kit / SSE-200 NSCCFG register
	// (CODENSC bit 0, RAMNSC bit 1): the IDAU lets the SAU mark Secure code or
	// RAM NSC only when these are set. 0: not applicable.
	NSCCFG      uint64
	SAUInit     []FixedRegion // regions the SAU always needs (e.g. the Non-secure peripheral alias)
	Memories    []*Memory
	Peripherals []*Peripheral
	Sources     []string // where the addresses come from (reference manual, section)
	File        string
	Line        int
}

// FixedRegion is a device-level SAU region (from CMSIS-Zone's sau_init).
type FixedRegion struct {
	Name     string
	Start    uint64
	Size     uint64
	Security Security // NonSecure or NSC
	Line     int
}

// Memory is one physical memory with its Secure and Non-secure aliases.
type Memory struct {
	Name     string
	Aliases  []string // other names that refer to it (CMSIS-Zone lists each alias as a memory)
	ROM      bool     // flash or ROM (else RAM)
	Physical uint64   // the address the memory controller sees (the Non-secure alias on most chips)
	Size     uint64
	S        uint64 // Secure alias address
	NS       uint64 // Non-secure alias address
	HasS     bool
	HasNS    bool
	Access   string // subset of "rwx"
	// Security, when set, restricts what the memory may hold (CMSIS-Zone:
	// "c" = Secure or NSC, "s" = Secure only, "n" = Non-secure only).
	Security Security
	Block    uint64 // MPC / SPU block size (0: no block-based controller)
	// MPCBase is the register block of an Arm SIE-200 style MPC guarding the
	// memory (BLK_CFG 0x14, BLK_IDX 0x18, BLK_LUT 0x1C); 0: none or unknown.
	MPCBase uint64
	Sector  uint64 // flash erase sector (0: unknown)
	Line    int
}

// AddressFor returns the address of offset off in the alias used by a
// partition of the given security.
func (m *Memory) AddressFor(s Security, off uint64) (uint64, bool) {
	if s == NonSecure {
		if !m.HasNS {
			return 0, false
		}
		return m.NS + off, true
	}
	if !m.HasS {
		return 0, false
	}
	return m.S + off, true
}

// Executable reports whether code can run from the memory.
func (m *Memory) Executable() bool { return strings.Contains(m.Access, "x") || m.ROM && m.Access == "" }

// Peripheral is a memory-mapped peripheral with its interrupts.
type Peripheral struct {
	Name       string
	Group      string
	S, NS      uint64
	HasS       bool
	HasNS      bool
	Size       uint64
	Interrupts []Interrupt
	Setup      []Setup
	Line       int
}

// Interrupt is one NVIC line.
type Interrupt struct {
	Name string
	IRQ  int
}

// Setup is a vendor register value applied when a peripheral is made Secure
// (Kind "security") or privileged (Kind "privilege"), e.g. STM32L5
// GTZC_TZSC->SECCFGR2 |= 0x800.
type Setup struct {
	Register string
	Value    uint64
	Kind     string
}

// Partition is a named range of one memory given to a zone.
type Partition struct {
	Name       string
	MemoryName string
	Memory     *Memory // resolved by Analyze
	Offset     uint64
	Size       uint64
	Security   Security // resolved: explicit, else the memory's, else the zone's
	Access     string
	Privilege  string // "p" privileged, "u" unprivileged, "" unspecified
	Startup    bool
	Line       int
}

// ZoneKind tells security zones from MPU sub-zones.
type ZoneKind string

// Zone kinds.
const (
	ZoneSecurity ZoneKind = "security" // a TrustZone image: secure or non-secure
	ZoneMPU      ZoneKind = "mpu"      // an MPU-protected sub-zone (a thread or partition)
)

// Zone is a set of partitions, peripherals and interrupts that run together.
type Zone struct {
	Name        string
	Kind        ZoneKind
	Security    Security // Secure or NonSecure for security zones; of the parent for MPU zones
	Privilege   string
	Parent      string // for MPU zones: the security zone it lives in (optional)
	Partitions  []string
	Peripherals []string
	Interrupts  []string // interrupt names or numbers not tied to an assigned peripheral
	Line        int
	// Lines of individual references, for error positions (same order as the slices).
	PartitionLines, PeripheralLines, InterruptLines []int
}

// FlashArea is one area of the bootloader's flash map.
type FlashArea struct {
	Name   string
	Role   string // bootloader, primary, secondary, scratch, storage, ps, its, nv-counters, other
	Image  int    // image number for primary/secondary (0 = secure or single, 1 = non-secure)
	Memory string
	Offset uint64 // from the start of the memory
	Size   uint64
	ID     int // MCUboot flash area ID
	Line   int
}

// FlashMap is the bootloader's view of flash.
type FlashMap struct {
	Memory      string // default memory of the areas
	Sector      uint64 // erase sector; 0: take the memory's
	HeaderSize  uint64 // MCUboot image header (TF-M BL2_HEADER_SIZE)
	TrailerSize uint64 // MCUboot trailer reserved at a slot's end
	Strategy    string // MCUboot upgrade strategy: swap-move (default) or overwrite-only
	WriteAlign  int    // flash write alignment in bytes (default 8)
	Areas       []*FlashArea
	Line        int
}

// Project is a device plus its assignment.
type Project struct {
	Name   string
	File   string
	Device *Device
	// UnassignedSecure makes peripherals and interrupts that no zone lists
	// Secure (their reset state) instead of an error. CMSIS-Zone projects use it.
	UnassignedSecure bool
	Mode             string // "" (TrustZone project) or "mpu" (MPU-only, CMSIS-Zone mode="MPU")
	Partitions       []*Partition
	Zones            []*Zone
	FlashMap         *FlashMap
	// Notes are importer remarks (data the importer had to correct or
	// ignore); Analyze reports each as a warning.
	Notes []string
}
