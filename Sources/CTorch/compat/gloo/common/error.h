// See declarations.h: the wheel lacks Gloo headers; ProcessGroupGloo.hpp needs only declarations.
#pragma once
#include "../declarations.h"
