package boot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"rampart/flash"
	"rampart/internal/yamlerr"
)

// Strategy is how an upgrade moves an image into the primary slot.
type Strategy string

// The upgrade strategies the bootloader implements.
const (
	OverwriteOnly Strategy = "overwrite-only"
	SwapMove      Strategy = "swap-move"
	// SwapScratch swaps through the flash map's scratch area, as MCUboot's
	// swap_scratch.c (docs/boot.md §5a).
	SwapScratch Strategy = "swap-scratch"
	// SwapOffset keeps the update one sector into the secondary slot and
	// swaps sector by sector, as MCUboot's swap_offset.c (docs/boot.md §5c).
	SwapOffset Strategy = "swap-offset"
	// DirectXIP runs each image from whichever slot holds the highest
	// valid version, copying nothing (MCUBOOT_DIRECT_XIP, §5b);
	// DirectXIPRevert adds MCUBOOT_DIRECT_XIP_REVERT.
	DirectXIP       Strategy = "direct-xip"
	DirectXIPRevert Strategy = "direct-xip-revert"
	// RAMLoad copies the highest valid version from either slot into the
	// map's RAM region and runs it there (MCUBOOT_RAM_LOAD, §5b).
	RAMLoad Strategy = "ram-load"
	// RAMLoadRevert adds MCUBOOT_RAM_LOAD_REVERT: a slot is chosen only
	// with a good trailer magic and is erased if it booted once without
	// being confirmed, as with direct-xip-revert (§5b).
	RAMLoadRevert Strategy = "ram-load-revert"
)

// directXIP reports whether s boots from either slot without copying
// between them (direct-XIP, and RAM-load, which chooses the same way).
func (s Strategy) directXIP() bool { return s == DirectXIP || s == DirectXIPRevert || s.ramLoad() }

// ramLoad reports whether s copies the chosen image into RAM.
func (s Strategy) ramLoad() bool { return s == RAMLoad || s == RAMLoadRevert }

// swaps reports whether s exchanges the two slots (and can revert).
func (s Strategy) swaps() bool { return s == SwapMove || s == SwapScratch || s == SwapOffset }

// Num is an unsigned 32-bit number that a config may write in decimal or,
// as a string, in hexadecimal ("0x10000").
type Num uint32

// UnmarshalJSON accepts a JSON number or a string holding a number.
func (n *Num) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	return n.parse(s)
}

// UnmarshalYAML accepts a YAML integer in any base YAML allows, or a string.
func (n *Num) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number", v.Line)
	}
	if err := n.parse(v.Value); err != nil {
		return fmt.Errorf("line %d: %w", v.Line, err)
	}
	return nil
}

func (n *Num) parse(s string) error {
	v, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, 32)
	if err != nil {
		return fmt.Errorf("%q is not a 32-bit unsigned number", s)
	}
	*n = Num(v)
	return nil
}

// Area is a range of the flash device.
type Area struct {
	Offset Num `json:"offset" yaml:"offset"`
	Size   Num `json:"size" yaml:"size"`
}

// End is the offset just past the area.
func (a Area) End() uint64 { return uint64(a.Offset) + uint64(a.Size) }

// ImageSlots are the two slots of one image.
type ImageSlots struct {
	ID   int    `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"` // also the default measurement type, e.g. "SPE"
	// Primary is where the image runs from; Secondary receives updates.
	Primary   Area `json:"primary" yaml:"primary"`
	Secondary Area `json:"secondary" yaml:"secondary"`
}

// NamedArea is a storage area (ITS, PS, NV counters...).
type NamedArea struct {
	Name string `json:"name" yaml:"name"`
	Area `yaml:",inline"`
}

// Config is the flash map file: the device's geometry, the boot strategy and
// the areas. The zone tool generates it; `rampart boot create` reads it.
type Config struct {
	Flash    flash.Geometry `json:"flash" yaml:"flash"`
	Strategy Strategy       `json:"strategy" yaml:"strategy"`
	// MaxAlign is MCUboot's BOOT_MAX_ALIGN: trailer fields are this far apart.
	// 0 means 8 (imgtool's default).
	MaxAlign int `json:"max_align,omitempty" yaml:"max_align,omitempty"`
	// MaxSectors sizes the swap-status area (BOOT_MAX_IMG_SECTORS). 0 means the
	// sector count of the largest slot.
	MaxSectors int `json:"max_sectors,omitempty" yaml:"max_sectors,omitempty"`
	// DowngradePrevention refuses an update whose version is lower than the
	// running image's (MCUBOOT_DOWNGRADE_PREVENTION).
	DowngradePrevention bool `json:"downgrade_prevention" yaml:"downgrade_prevention"`
	// EncryptedImages is MCUBOOT_ENC_IMAGES: the secondary slot may hold an
	// image whose body is encrypted (AES-128-CTR, the key wrapped for the
	// device's decrypt key); the bootloader decrypts it into the primary
	// slot while installing it (with ram-load: into RAM, from either
	// slot). The trailer grows by two key fields (docs/boot.md §10b).
	// Direct-XIP cannot have it: the image runs where it lies.
	EncryptedImages bool `json:"encrypted_images,omitempty" yaml:"encrypted_images,omitempty"`
	// EncryptedKeyBits is the AES key size of encrypted images: 128 (0
	// means 128) or 256 (MCUBOOT_AES_256, imgtool --encrypt-keylen 256).
	// It sizes the trailer's key fields; an image of the other size is
	// refused, as MCUboot's build fixes the key TLV's size.
	EncryptedKeyBits int          `json:"encrypted_key_bits,omitempty" yaml:"encrypted_key_bits,omitempty"`
	Bootloader       Area         `json:"bootloader" yaml:"bootloader"`
	Images           []ImageSlots `json:"images" yaml:"images"`
	// Scratch is the scratch area swap-scratch needs (other strategies
	// leave it alone).
	Scratch *Area `json:"scratch,omitempty" yaml:"scratch,omitempty"`
	// RAM is the executable RAM region ram-load copies images into
	// (addresses as the images' load addresses give them).
	RAM     *Area       `json:"ram,omitempty" yaml:"ram,omitempty"`
	Storage []NamedArea `json:"storage,omitempty" yaml:"storage,omitempty"`
}

// ErrConfig is wrapped by every flash-map validation error.
var ErrConfig = errors.New("boot: invalid flash map")

// maxImages bounds the image count: swap_info keeps the index in 4 bits.
const maxImages = 16

// maxConfigSize bounds a config file read by LoadConfig.
const maxConfigSize = 1 << 20

// LoadConfig reads a flash map from a .json, .yaml or .yml file and validates it.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	c, err := ParseConfigFile(path, b, strings.EqualFold(filepath.Ext(path), ".json"))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ParseConfig decodes a flash map (JSON when isJSON, else YAML), rejecting
// unknown fields, and validates it.
func ParseConfig(b []byte, isJSON bool) (*Config, error) {
	return ParseConfigFile("", b, isJSON)
}

// ParseConfigFile is ParseConfig naming the file in errors, which read
// file:line:column: field: message (internal/yamlerr).
func ParseConfigFile(name string, b []byte, isJSON bool) (*Config, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%w: %s: %d bytes is larger than %d", ErrConfig, name, len(b), maxConfigSize)
	}
	var c Config
	var err error
	if isJSON {
		err = yamlerr.DecodeJSON(name, b, &c)
	} else {
		err = yamlerr.DecodeYAML(name, b, &c)
	}
	if err != nil {
		return nil, yamlerr.Mark(err, ErrConfig)
	}
	if err := c.Validate(); err != nil {
		if name != "" {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, err
	}
	return &c, nil
}

// MarshalJSON-friendly copy used by the CLI is the Config itself.

// EffectiveMaxAlign is MaxAlign with its default applied.
func (c *Config) EffectiveMaxAlign() int {
	if c.MaxAlign == 0 {
		return 8
	}
	return c.MaxAlign
}
