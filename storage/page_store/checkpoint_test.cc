#include "storage/page_store/checkpoint.h"

#include "gtest/gtest.h"
