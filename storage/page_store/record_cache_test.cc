#include "storage/page_store/record_cache.h"

#include "gtest/gtest.h"
