package ipc

import "fmt"

// Status is a PSA status code (psa_status_t). Success is 0, errors are
// negative, with the numeric values of the PSA Certified API headers. A
// non-zero Status is an error.
type Status int32

// PSA status codes (psa/error.h).
const (
	Success                 Status = 0
	ErrProgrammerError      Status = -129
	ErrConnectionRefused    Status = -130
	ErrConnectionBusy       Status = -131
	ErrGenericError         Status = -132
	ErrNotPermitted         Status = -133
	ErrNotSupported         Status = -134
	ErrInvalidArgument      Status = -135
	ErrInvalidHandle        Status = -136
	ErrBadState             Status = -137
	ErrBufferTooSmall       Status = -138
	ErrAlreadyExists        Status = -139
	ErrDoesNotExist         Status = -140
	ErrInsufficientMemory   Status = -141
	ErrInsufficientStorage  Status = -142
	ErrInsufficientData     Status = -143
	ErrServiceFailure       Status = -144
	ErrCommunicationFailure Status = -145
	ErrStorageFailure       Status = -146
	ErrHardwareFailure      Status = -147
	ErrInsufficientEntropy  Status = -148
	ErrInvalidSignature     Status = -149
	ErrInvalidPadding       Status = -150
	ErrCorruptionDetected   Status = -151
	ErrDataCorrupt          Status = -152
	ErrDataInvalid          Status = -153
	ErrOperationIncomplete  Status = -248
)

var statusNames = map[Status]string{
	Success:                 "PSA_SUCCESS",
	ErrProgrammerError:      "PSA_ERROR_PROGRAMMER_ERROR",
	ErrConnectionRefused:    "PSA_ERROR_CONNECTION_REFUSED",
	ErrConnectionBusy:       "PSA_ERROR_CONNECTION_BUSY",
	ErrGenericError:         "PSA_ERROR_GENERIC_ERROR",
	ErrNotPermitted:         "PSA_ERROR_NOT_PERMITTED",
	ErrNotSupported:         "PSA_ERROR_NOT_SUPPORTED",
	ErrInvalidArgument:      "PSA_ERROR_INVALID_ARGUMENT",
	ErrInvalidHandle:        "PSA_ERROR_INVALID_HANDLE",
	ErrBadState:             "PSA_ERROR_BAD_STATE",
	ErrBufferTooSmall:       "PSA_ERROR_BUFFER_TOO_SMALL",
	ErrAlreadyExists:        "PSA_ERROR_ALREADY_EXISTS",
	ErrDoesNotExist:         "PSA_ERROR_DOES_NOT_EXIST",
	ErrInsufficientMemory:   "PSA_ERROR_INSUFFICIENT_MEMORY",
	ErrInsufficientStorage:  "PSA_ERROR_INSUFFICIENT_STORAGE",
	ErrInsufficientData:     "PSA_ERROR_INSUFFICIENT_DATA",
	ErrServiceFailure:       "PSA_ERROR_SERVICE_FAILURE",
	ErrCommunicationFailure: "PSA_ERROR_COMMUNICATION_FAILURE",
	ErrStorageFailure:       "PSA_ERROR_STORAGE_FAILURE",
	ErrHardwareFailure:      "PSA_ERROR_HARDWARE_FAILURE",
	ErrInsufficientEntropy:  "PSA_ERROR_INSUFFICIENT_ENTROPY",
	ErrInvalidSignature:     "PSA_ERROR_INVALID_SIGNATURE",
	ErrInvalidPadding:       "PSA_ERROR_INVALID_PADDING",
	ErrCorruptionDetected:   "PSA_ERROR_CORRUPTION_DETECTED",
	ErrDataCorrupt:          "PSA_ERROR_DATA_CORRUPT",
	ErrDataInvalid:          "PSA_ERROR_DATA_INVALID",
	ErrOperationIncomplete:  "PSA_OPERATION_INCOMPLETE",
}

// String returns the PSA name of s, or its number when s is not a known code.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("psa_status(%d)", int32(s))
}

// Error makes a Status usable as an error: errors.Is(err, ipc.ErrNotPermitted).
func (s Status) Error() string { return s.String() }

// Err returns nil for Success and s otherwise.
func (s Status) Err() error {
	if s == Success {
		return nil
	}
	return s
}
