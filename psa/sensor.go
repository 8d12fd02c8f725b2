package psa

// SensorSID and SensorVersion identify the example application partition
// of a secure sensor (spe/sensor, docs/spe-isolation.md): an application
// root-of-trust service, outside the PSA RoT, that signs each reading with
// a key only it can use.
const (
	SensorSID     = 0x00010000
	SensorVersion = 1
	// SensorPartitionID is the sensor partition's ID: its client ID when
	// it calls the crypto service, so its key is named by it.
	SensorPartitionID int32 = 0x2001
)

// SensorOp is a call type of the sensor service:
//
//	read:       in0 = nonce (0..64 bytes, optional); out0 = reading
//	            (SensorReadingSize bytes); out1 = ECDSA P-256 signature r‖s
//	            over SHA-256(reading ‖ nonce)
//	public_key: out0 = the signing key's public key (04‖X‖Y)
type SensorOp int32

// Sensor operations.
const (
	SensorOpRead      SensorOp = 1
	SensorOpPublicKey SensorOp = 2
)

// SensorReadingSize is the length of a reading: u64 sequence number, then
// i32 temperature in millidegrees Celsius, then u32 reserved (0); little
// endian.
const SensorReadingSize = 16

// SensorMaxNonce bounds the nonce of a read.
const SensorMaxNonce = 64
