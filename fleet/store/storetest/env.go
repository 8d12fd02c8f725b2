package storetest

import "os"

var testingGetenv = os.Getenv
