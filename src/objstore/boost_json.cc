// Boost.JSON, header-only: its implementation is compiled here, once for the whole program (no
// other file may include boost/json/src.hpp). Used by credentials.cc.
#include <boost/json/src.hpp>
