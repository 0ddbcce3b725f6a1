#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Doxygen INPUT_FILTER: tbbx's headers are documented with plain // comments
# (the comment above a declaration is its documentation), which Doxygen does
# not read. This turns them into /// comments on the fly; the file's opening
# comment becomes the file's own page (@file). Code examples in comments
# (lines indented by two or more spaces after //) become code blocks.
awk '
BEGIN { top = 1 }
top && /^\/\// {
  if (!started) { print "/// @file"; started = 1 }
  sub(/^\/\/ ?/, "");
  gsub(/#include/, "\\#include")
  print "/// " $0
  next
}
top { top = 0 }
/^[ \t]*\/\/ / && !/^[ \t]*\/\/\// {
  sub(/\/\/ /, "/// ")
  gsub(/#include/, "\\#include")
}
{ print }
' "$1"
