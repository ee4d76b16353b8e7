"""`__future__` for the MicroPython runtime: the feature names, so `from __future__ import
annotations` (and the others) import; MicroPython does not evaluate annotations anyway."""

all_feature_names = ["nested_scopes", "generators", "division", "absolute_import",
                     "with_statement", "print_function", "unicode_literals", "barry_as_FLUFL",
                     "generator_stop", "annotations"]
nested_scopes = generators = division = absolute_import = with_statement = True
print_function = unicode_literals = barry_as_FLUFL = generator_stop = annotations = True
