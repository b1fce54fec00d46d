#include "storage/page_store/segment.h"

#include "gtest/gtest.h"
