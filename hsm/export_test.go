package hsm

// ParseURIClip shortens a URI for test messages.
var ParseURIClip = clip
