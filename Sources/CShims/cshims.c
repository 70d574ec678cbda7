// The shims are static inline functions in include/cshims.h; SwiftPM needs one source file.
#include "cshims.h"
