package scenario

// Images are the root filesystem images a scenario's `image:` may name.
// They will be the *.yaml definitions in the repository's images/
// directory; until those exist, this list holds the two the design names,
// so that a misspelt image is an error now rather than a scenario skipped
// for ever later.
var Images = []string{"debian-minimal", "httpd"}
