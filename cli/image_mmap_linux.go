package cli

import "syscall"

// imageMapPopulate asks mmap to map every page of the file at once.
const imageMapPopulate = syscall.MAP_POPULATE
