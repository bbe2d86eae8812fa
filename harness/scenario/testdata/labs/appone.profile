# a profile for tests
profile appone flags=(attach_disconnected) {
  /** rix,
  /tmp/d8k.io w,
}
