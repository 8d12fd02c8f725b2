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
// PRoT's state and device directories; an application partition's own
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
	if userGroup(group) == GroupPRoT {
		dirs = append(dirs, spec.StateDir)
		if spec.DeviceDir != "" {
			dirs = append(dirs, spec.DeviceDir)
		}
	} else {
		apps := spec.appsDir()
		if rel, err := filepath.Rel(spec.StateDir, apps); err == nil && !strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("platform: partition users: apps_dir %s is inside state_dir, which only the PRoT's user may enter", apps)
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

// userGroup is the partition_uids key of a process group: level 3's PRoT
// processes share the PRoT's user (they share the state directory).
func userGroup(group string) string {
	if isLevel3PRoT(group) {
		return GroupPRoT
	}
	return group
}
