package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"rampart/agent"
	"rampart/attest"
	"rampart/boot"
	"rampart/internal/secfile"
	"rampart/spe/platform"
	"rampart/spe/provision"
)

// flashMap is a small device: 4 KiB sectors, a 16 KiB primary slot and a
// 12 KiB secondary slot (swap-using-move needs one sector more in the
// primary), enough for the simulator's firmware. Downgrade prevention is
// on: the bootloader, and so the SPE's firmware-update service, refuses an
// image older than the running one.
const flashMap = `{
  "flash": {"sectors": [{"size": 4096, "count": 8}], "write_align": 8, "erased_value": 255},
  "strategy": "swap-move", "max_align": 8, "downgrade_prevention": true,
  "bootloader": {"offset": 0, "size": 4096},
  "images": [{"id": 0, "name": "SPE",
     "primary": {"offset": "0x1000", "size": "0x4000"},
     "secondary": {"offset": "0x5000", "size": "0x3000"}}]
}`

// bigSector is the sector size of a device made with a slot size (4 KiB,
// as the internal flash of the parts MCUboot most often runs on).
const bigSector = 4096

// flashMapFor is the flash map of a device whose secondary slot holds
// slot bytes (rounded up to whole sectors; image and trailer must fit),
// the primary one sector more (swap-using-move). Its flash erases to 0x00,
// as some parts' does: the device's file then starts sparse and an erase
// of never-written sectors writes nothing, so ten thousand devices with
// 1 MiB slots cost the disk what they write, not 2 MiB each at the factory
// (flash.MapThreshold: such a device is mapped, not held in memory).
func flashMapFor(slot int) string {
	n := (slot + bigSector - 1) / bigSector
	return fmt.Sprintf(`{
  "flash": {"sectors": [{"size": %d, "count": %d}], "write_align": 8, "erased_value": 0},
  "strategy": "swap-move", "max_align": 8, "downgrade_prevention": true,
  "bootloader": {"offset": 0, "size": %d},
  "images": [{"id": 0, "name": "SPE",
     "primary": {"offset": "%#x", "size": "%#x"},
     "secondary": {"offset": "%#x", "size": "%#x"}}]
}`, bigSector, 2+2*n, bigSector, bigSector, (n+1)*bigSector, (n+2)*bigSector, n*bigSector)
}

// ImplementationID is the simulated devices' PSA RoT implementation ID.
var ImplementationID = bytes.Repeat([]byte{0x52}, 32)

// Device is one simulated device: flash and bootloader, SPE, agent.
type Device struct {
	Index   int
	Dir     string
	dev     *boot.Device
	plat    *platform.Platform
	Agent   *agent.Agent
	Endorse attest.Endorsement
}

// SignedEndorsementFile is where Manufacture writes a device's endorsement
// as the factory signed it (provision's COSE_Sign1, what `rampart spe
// provision` writes), under the device's directory: Fleet.Endorse imports
// that file as it is.
const SignedEndorsementFile = "endorsement.json.cose"

// Dirs of a device.
func (d *Device) devDir() string   { return filepath.Join(d.Dir, "device") }
func (d *Device) stateDir() string { return filepath.Join(d.Dir, "spe") }
func (d *Device) agentDir() string { return filepath.Join(d.Dir, "agent") }

// ManufactureOptions vary the device made.
type ManufactureOptions struct {
	// Strategy is the bootloader's upgrade strategy: swap-move (the
	// default: a new image boots in a trial and is reverted unless
	// accepted) or overwrite-only (no trial: an upgrade is permanent).
	Strategy boot.Strategy
	// NextRelease, when set, is provisioned after the fleet's release key
	// as the next release key: pending until an update signed by the
	// current one activates it (docs/boot.md §7a).
	NextRelease *ecdsa.PublicKey
	// SlotSize, when set, is the secondary slot's size in bytes
	// (flashMapFor); 0 keeps the small 12 KiB slot.
	SlotSize int
}

// Manufacture makes a device at the factory: its flash with firmware
// installed in the primary slot, then provisioning (keys generated inside
// its SPE, boot key installed, lifecycle secured, endorsement made).
func Manufacture(dir string, index int, f *Fleet, firmware []byte) (*Device, error) {
	return ManufactureWith(dir, index, f, firmware, ManufactureOptions{})
}

// ManufactureWith is Manufacture with options.
func ManufactureWith(dir string, index int, f *Fleet, firmware []byte, o ManufactureOptions) (*Device, error) {
	d := &Device{Index: index, Dir: dir}
	fm := flashMap
	if o.SlotSize > 0 {
		if o.Strategy == boot.OverwriteOnly {
			return nil, fmt.Errorf("sim: device %d: a slot size is only for swap-move", index)
		}
		fm = flashMapFor(o.SlotSize)
	}
	if o.Strategy != "" {
		fm = strings.Replace(fm, `"strategy": "swap-move"`, `"strategy": "`+string(o.Strategy)+`"`, 1)
	}
	if o.Strategy == boot.OverwriteOnly {
		// Overwrite-only copies the whole slot (as MCUboot): both slots the
		// same size, one more sector on the device.
		fm = strings.Replace(fm, `"count": 8`, `"count": 9`, 1)
		fm = strings.Replace(fm, `"size": "0x3000"`, `"size": "0x4000"`, 1)
	}
	cfg, err := boot.ParseConfig([]byte(fm), true)
	if err != nil {
		return nil, err
	}
	dev, err := boot.CreateDevice(d.devDir(), cfg, nil, 0)
	if err != nil {
		return nil, err
	}
	if err := dev.Boot.Install(0, boot.Primary, firmware); err != nil {
		dev.Close()
		return nil, err
	}
	dev.Close()
	p, err := platform.Open(platform.Options{StateDir: d.stateDir(), LastBoot: &boot.Result{}, Rand: f.Rand})
	if err != nil {
		return nil, fmt.Errorf("sim: device %d: spe: %w", index, err)
	}
	defer p.Close()
	der, _ := x509.MarshalPKIXPublicKey(f.bootKey)
	bootKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	var next [][]byte
	if o.NextRelease != nil {
		der, _ := x509.MarshalPKIXPublicKey(o.NextRelease)
		next = append(next, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	res, err := provision.Run(p, provision.Options{ImplementationID: ImplementationID, BootKeys: [][]byte{bootKey}, NextBootKeys: next,
		DeviceDir: d.devDir(), Manufacturer: f.Mfr, ManufacturerName: MfrName, Comment: fmt.Sprintf("sim device %d", index), Rand: f.Rand})
	if err != nil {
		return nil, fmt.Errorf("sim: device %d: provision: %w", index, err)
	}
	d.Endorse = res.Endorsement
	if err := secfile.WriteFile(filepath.Join(dir, SignedEndorsementFile), res.Signed); err != nil {
		return nil, fmt.Errorf("sim: device %d: %w", index, err)
	}
	return d, nil
}

// PowerOn boots the device (the bootloader verifies and measures its
// image) and starts its SPE.
func (d *Device) PowerOn() (*boot.Result, error) {
	dev, err := platform.OpenDevice(d.devDir())
	if err != nil {
		return nil, err
	}
	p, err := platform.Open(platform.Options{StateDir: d.stateDir(), Device: dev})
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("sim: device %d: boot: %w", d.Index, err)
	}
	d.dev, d.plat = dev, p
	return p.LastBoot(), nil
}

// PowerOff cuts power: the agent stops where it is, the SPE and flash close.
func (d *Device) PowerOff() {
	if d.Agent != nil {
		d.Agent.Close()
		d.Agent = nil
	}
	if d.plat != nil {
		d.plat.Close()
		d.plat = nil
	}
	if d.dev != nil {
		d.dev.Close()
		d.dev = nil
	}
}

// Platform is the running SPE (nil when powered off).
func (d *Device) Platform() *platform.Platform { return d.plat }

// AgentOptions tune a device's agent.
type AgentOptions struct {
	Dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	Now       func() time.Time
	Hooks     *agent.Hooks
	SelfTest  func(ctx context.Context, version string) error
	Interval  time.Duration
	Backoff   agent.Backoff
	Telemetry func(now time.Time) map[string]float64
	Log       *slog.Logger // the agent's log (discarded when nil)
}

// StartAgent builds the device's agent over an in-process SPE session
// (non-secure client ID -1), as `rampart agent` does over the socket.
func (d *Device) StartAgent(f *Fleet, o AgentOptions) (*agent.Agent, error) {
	if d.plat == nil {
		return nil, fmt.Errorf("sim: device %d is powered off", d.Index)
	}
	p := d.plat
	a, err := agent.New(agent.Config{
		Dir:               d.agentDir(),
		SPE:               gatedLocal(p),
		EnrollURL:         f.EnrollURL,
		EnrollFallbacks:   f.EnrollFallbacks,
		MQTTAddr:          f.MQTTAddr,
		Roots:             f.Roots(),
		Anchors:           f.Anchors(),
		Dial:              o.Dial,
		Now:               o.Now,
		Hooks:             o.Hooks,
		SelfTest:          o.SelfTest,
		TelemetryInterval: o.Interval,
		Backoff:           o.Backoff,
		Telemetry:         o.Telemetry,
		Log:               o.Log,
		Rand:              f.Rand,
	})
	if err != nil {
		return nil, err
	}
	d.Agent = a
	return a, nil
}

// Remove deletes the device's files.
func (d *Device) Remove() error {
	d.PowerOff()
	return os.RemoveAll(d.Dir)
}
