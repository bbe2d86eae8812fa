/* a fake source file; the fake bzImage is a copy of it */
int fork(void) { return 0; }
