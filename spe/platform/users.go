package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"rampart/spe"
)

// asUser prepares a process group to run as uid (and gid uid, no
// supplementary groups): it gives the group's state to that user (the
// PRoT's state and device directories, or at level 3 with a user per
// partition the group's own subdirectories; an application partition's own
// directory) and returns a command that starts the process as it. Only
// root can do this; the other processes' state stays out of the user's
// reach by the files' modes (0700 directories, 0600 files).
func asUser(spec Spec, group string, ms []spe.PartitionManifest, uid int, command func() *exec.Cmd) (func() *exec.Cmd, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("platform: partition users: the SPM must start as root to run %s as uid %d", group, uid)
	}
	if uid <= 0 {
		return nil, fmt.Errorf("platform: partition users: %s: uid %d (root or invalid)", group, uid)
	}
	var dirs []string
	switch {
	case isLevel3PRoT(group) && spec.UserPerPartition:
		dirs = ownDirs(spec, group)
	case group == GroupPRoT || isLevel3PRoT(group):
		dirs = append(dirs, spec.StateDir)
		if spec.DeviceDir != "" {
			dirs = append(dirs, spec.DeviceDir)
		}
	default:
		apps := spec.appsDir()
		if rel, err := filepath.Rel(spec.StateDir, apps); err == nil && !strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("platform: partition users: apps_dir %s is inside state_dir, which only the PRoT's users may enter", apps)
		}
		// The parent only needs to be searchable by the partitions' users.
		if err := os.MkdirAll(apps, 0o711); err != nil {
			return nil, fmt.Errorf("platform: partition users: %w", err)
		}
		for _, m := range ms {
			d := filepath.Join(apps, m.Name)
			if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("platform: partition users: %w", err)
			}
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if err := chownTree(d, uid); err != nil {
			return nil, fmt.Errorf("platform: partition users: %s: %w", group, err)
		}
	}
	return func() *exec.Cmd {
		cmd := command()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		return cmd
	}, nil
}

// ownDirs are the subdirectories of the state (and the device directory)
// that one level-3 PRoT process owns when each runs as its own user. The
// root key partition's are the HUK file and the state directory itself,
// whose other entries it cannot read.
func ownDirs(spec Spec, group string) []string {
	in := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(spec.StateDir, n))
		}
		return out
	}
	switch group {
	case GroupRootKey:
		return in(HUKFile, RoTFile)
	case GroupLifecycle:
		return in(LifecycleDir)
	case GroupCrypto:
		return in(KeysDir)
	case GroupITS:
		return in(ITSDir)
	case GroupPS:
		return in(PSDir)
	case GroupAudit:
		return in(AuditDir)
	case GroupAttestation:
		return in(AttestDir)
	case GroupFWU:
		if spec.DeviceDir != "" {
			return append(in(FWUDir), spec.DeviceDir)
		}
		return in(FWUDir)
	}
	return nil
}

// prepareUsers readies the state directory for level 3's PRoT processes
// before any starts, and reports whether they run as several users. Then
// the state directory belongs to the root key partition's user with mode
// 0711 (the others enter it to reach their own subdirectories, which the
// SPM creates 0700 and gives them, but cannot list it), and the audit key
// moves from the attestation store to audit's own directory.
func prepareUsers(spec Spec, users map[string]int) (bool, error) {
	uids := map[int]bool{}
	for _, g := range level3Groups(spec) {
		if uid, ok := userOf(users, g.name); ok {
			uids[uid] = true
		}
	}
	if len(uids) < 2 {
		return false, nil
	}
	rootUID, ok := userOf(users, GroupRootKey)
	if !ok {
		return false, errors.New("platform: partition users: with a user per PRoT partition, prot:rootkey (or prot) needs one too")
	}
	if err := os.MkdirAll(spec.StateDir, 0o711); err != nil {
		return false, fmt.Errorf("platform: partition users: %w", err)
	}
	if err := os.Chmod(spec.StateDir, 0o711); err != nil {
		return false, fmt.Errorf("platform: partition users: %w", err)
	}
	if err := os.Lchown(spec.StateDir, rootUID, rootUID); err != nil {
		return false, fmt.Errorf("platform: partition users: %w", err)
	}
	for _, d := range []string{LifecycleDir, KeysDir, ITSDir, PSDir, AuditDir, AttestDir, FWUDir} {
		if err := os.Mkdir(filepath.Join(spec.StateDir, d), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("platform: partition users: %w", err)
		}
	}
	if err := moveAuditKey(spec.StateDir); err != nil {
		return false, fmt.Errorf("platform: partition users: %w", err)
	}
	return true, nil
}

// chownTree gives root and everything under it to uid:uid, following no
// symbolic link.
func chownTree(root string, uid int) error {
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil // created by the process itself
	}
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// userOf returns the uid a process group runs as: its own partition_uids
// entry, or for level 3's PRoT processes the PRoT's ("prot").
func userOf(users map[string]int, group string) (int, bool) {
	if uid, ok := users[group]; ok {
		return uid, true
	}
	if isLevel3PRoT(group) {
		uid, ok := users[GroupPRoT]
		return uid, ok
	}
	return 0, false
}
