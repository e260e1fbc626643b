"""The test suite as a regular package.

lago-python-client (a dev dependency, for the Lago meter export) installs a top-level
``tests`` package into site-packages; a regular package there wins over this directory as a
namespace package, and ``from tests.gateway.conftest import ...`` then fails. Being a regular
package found first on the path (the checkout), this one wins.
"""
