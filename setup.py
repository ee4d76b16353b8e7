"""Package layout that pyproject.toml cannot say: top-level folders shipped inside the wheel.

`templates/`, `toolchains/` and the demo's example stay where a reader of the repository looks for
them, and install as package data of `proxywasm_build` (read through `proxywasm_build.resources`).
"""

from setuptools import find_packages, setup

# package name inside the wheel -> folder in the repository
DATA_PACKAGES = {
    "proxywasm_build.templates": "templates",
    "proxywasm_build.toolchains": "toolchains",
    "proxywasm_build.demo.allow_deny": "examples/allow_deny",
}

setup(
    packages=[*find_packages("sdk"), *find_packages("compiler"), *DATA_PACKAGES],
    package_dir={"proxywasm": "sdk/proxywasm", "proxywasm_build": "compiler/proxywasm_build",
                 **DATA_PACKAGES},
    package_data={name: ["**/*"] for name in DATA_PACKAGES},
    include_package_data=False,
    exclude_package_data={"": ["__pycache__/*", "*.pyc", "*.wasm", "build/*"]},
)
