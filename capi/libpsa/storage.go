package main

/*
#include "psa/storage_common.h"
*/
import "C"

import (
	"unsafe"

	"rampart/psa"
)

// storageSet is psa_its_set and psa_ps_set.
func storageSet(sid, version uint32, uid C.psa_storage_uid_t, n C.size_t, data unsafe.Pointer, flags C.psa_storage_create_flags_t) C.psa_status_t {
	if n > 0 && data == nil {
		return status(psa.ErrInvalidArgument)
	}
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpSet, psa.StorageHeader{UID: psa.StorageUID(uid), Flags: psa.StorageFlags(flags)})
	_, st := statelessCall(sid, version, int32(psa.StorageOpSet), [][]byte{hdr, bytesOf(data, n)})
	return status(st)
}

// storageGet is psa_its_get and psa_ps_get.
func storageGet(sid, version uint32, uid C.psa_storage_uid_t, offset, size C.size_t, data unsafe.Pointer, length *C.size_t) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if (size > 0 && data == nil) || length == nil {
		return status(psa.ErrInvalidArgument)
	}
	if uint64(offset) > 0xffffffff {
		return status(psa.ErrInvalidArgument)
	}
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpGet, psa.StorageHeader{UID: psa.StorageUID(uid), Offset: uint32(offset)})
	out, st := statelessCall(sid, version, int32(psa.StorageOpGet), [][]byte{hdr}, outSize(size))
	if st != psa.Success {
		return status(st)
	}
	return putOut((*C.uint8_t)(data), size, length, out[0])
}

func storageInfo(sid, version uint32, uid C.psa_storage_uid_t, info *C.struct_psa_storage_info_t) C.psa_status_t {
	if info == nil {
		return status(psa.ErrInvalidArgument)
	}
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpGetInfo, psa.StorageHeader{UID: psa.StorageUID(uid)})
	out, st := statelessCall(sid, version, int32(psa.StorageOpGetInfo), [][]byte{hdr}, psa.StorageInfoSize)
	if st != psa.Success {
		return status(st)
	}
	i, err := psa.ParseStorageInfo(out[0])
	if err != nil {
		return status(psa.ErrCommunicationFailure)
	}
	info.capacity, info.size, info.flags = C.size_t(i.Capacity), C.size_t(i.Size), C.psa_storage_create_flags_t(i.Flags)
	return 0
}

func storageRemove(sid, version uint32, uid C.psa_storage_uid_t) C.psa_status_t {
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpRemove, psa.StorageHeader{UID: psa.StorageUID(uid)})
	_, st := statelessCall(sid, version, int32(psa.StorageOpRemove), [][]byte{hdr})
	return status(st)
}

//export psa_its_set
func psa_its_set(uid C.psa_storage_uid_t, n C.size_t, data unsafe.Pointer, flags C.psa_storage_create_flags_t) C.psa_status_t {
	return storageSet(psa.ITSSID, psa.ITSVersion, uid, n, data, flags)
}

//export psa_its_get
func psa_its_get(uid C.psa_storage_uid_t, offset, size C.size_t, data unsafe.Pointer, length *C.size_t) C.psa_status_t {
	return storageGet(psa.ITSSID, psa.ITSVersion, uid, offset, size, data, length)
}

//export psa_its_get_info
func psa_its_get_info(uid C.psa_storage_uid_t, info *C.struct_psa_storage_info_t) C.psa_status_t {
	return storageInfo(psa.ITSSID, psa.ITSVersion, uid, info)
}

//export psa_its_remove
func psa_its_remove(uid C.psa_storage_uid_t) C.psa_status_t {
	return storageRemove(psa.ITSSID, psa.ITSVersion, uid)
}

//export psa_ps_set
func psa_ps_set(uid C.psa_storage_uid_t, n C.size_t, data unsafe.Pointer, flags C.psa_storage_create_flags_t) C.psa_status_t {
	return storageSet(psa.PSSID, psa.PSVersion, uid, n, data, flags)
}

//export psa_ps_get
func psa_ps_get(uid C.psa_storage_uid_t, offset, size C.size_t, data unsafe.Pointer, length *C.size_t) C.psa_status_t {
	return storageGet(psa.PSSID, psa.PSVersion, uid, offset, size, data, length)
}

//export psa_ps_get_info
func psa_ps_get_info(uid C.psa_storage_uid_t, info *C.struct_psa_storage_info_t) C.psa_status_t {
	return storageInfo(psa.PSSID, psa.PSVersion, uid, info)
}

//export psa_ps_remove
func psa_ps_remove(uid C.psa_storage_uid_t) C.psa_status_t {
	return storageRemove(psa.PSSID, psa.PSVersion, uid)
}

//export psa_ps_create
func psa_ps_create(uid C.psa_storage_uid_t, capacity C.size_t, flags C.psa_storage_create_flags_t) C.psa_status_t {
	if uint64(capacity) > 0xffffffff {
		return status(psa.ErrInvalidArgument)
	}
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpCreate, psa.StorageHeader{UID: psa.StorageUID(uid), Flags: psa.StorageFlags(flags), Capacity: uint32(capacity)})
	_, st := statelessCall(psa.PSSID, psa.PSVersion, int32(psa.StorageOpCreate), [][]byte{hdr})
	return status(st)
}

//export psa_ps_set_extended
func psa_ps_set_extended(uid C.psa_storage_uid_t, offset, n C.size_t, data unsafe.Pointer) C.psa_status_t {
	if n > 0 && data == nil {
		return status(psa.ErrInvalidArgument)
	}
	if uint64(offset) > 0xffffffff {
		return status(psa.ErrInvalidArgument)
	}
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpSetExtended, psa.StorageHeader{UID: psa.StorageUID(uid), Offset: uint32(offset)})
	_, st := statelessCall(psa.PSSID, psa.PSVersion, int32(psa.StorageOpSetExtended), [][]byte{hdr, bytesOf(data, n)})
	return status(st)
}

//export psa_ps_get_support
func psa_ps_get_support() C.uint32_t {
	out, st := statelessCall(psa.PSSID, psa.PSVersion, int32(psa.StorageOpGetSupport), nil, 4)
	if st != psa.Success {
		return 0
	}
	v, err := psa.ParseUint32(out[0])
	if err != nil {
		return 0
	}
	return C.uint32_t(v)
}
