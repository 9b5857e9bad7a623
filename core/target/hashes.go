package target

// go-digest only knows the algorithms whose hash is linked in.
import (
	_ "crypto/sha256"
	_ "crypto/sha512"
)
