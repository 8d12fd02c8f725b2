package storage

// Backend is what the ITS service keeps its objects in: a directory of
// files (Store) or an area of the device's flash (FlashStore). Put must be
// atomic: after a power cut, Get returns the old object or the new one.
type Backend interface {
	Put(name string, data []byte) error
	Get(name string) ([]byte, error) // ErrNotExist when absent
	Delete(name string) error        // ErrNotExist when absent
	List(prefix string) ([]string, error)
	Destroy() error
}

var (
	_ Backend = (*Store)(nil)
	_ Backend = (*FlashStore)(nil)
)
