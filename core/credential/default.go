package credential

import "path/filepath"

// DefaultPaths lists the credential files Default reads, in order (see the
// package doc), from the variables REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR,
// XDG_CONFIG_HOME, DOCKER_CONFIG and HOME (USERPROFILE when HOME is unset) as
// getenv returns them. Unset variables give no path; XDG_RUNTIME_DIR and
// XDG_CONFIG_HOME count only when absolute (as the XDG spec says); duplicates
// are listed once. The CLI can print the list to explain where it looked.
func DefaultPaths(getenv func(string) string) []string {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	home := getenv("HOME")
	if home == "" {
		home = getenv("USERPROFILE")
	}
	var paths []string
	add := func(elem ...string) {
		p := filepath.Join(elem...)
		for _, q := range paths {
			if q == p {
				return
			}
		}
		paths = append(paths, p)
	}
	if f := getenv("REGISTRY_AUTH_FILE"); f != "" {
		add(f)
	} else if d := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		add(d, "containers", "auth.json")
	}
	if d := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		add(d, "containers", "auth.json")
	} else if home != "" {
		add(home, ".config", "containers", "auth.json")
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		add(d, "config.json")
	} else if home != "" {
		add(home, ".docker", "config.json")
	}
	return paths
}

// Default is the CLI's lookup: FromFile for each of DefaultPaths(getenv),
// chained (the first non-empty credential wins, an error stops the lookup).
// Credential helpers are found in getenv("PATH") (absolute entries only), so the
// package reads no variable itself; WithHelperRunner replaces that. A nil getenv
// is an empty environment.
func Default(getenv func(string) string, opts ...Option) Store {
	pathList := ""
	if getenv != nil {
		pathList = getenv("PATH")
	}
	all := append([]Option{withLookPath(lookPathIn(pathList))}, opts...)
	var stores []Store
	for _, p := range DefaultPaths(getenv) {
		stores = append(stores, FromFile(p, all...))
	}
	return Chain(stores...)
}
