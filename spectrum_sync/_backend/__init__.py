"""The backend layer: what the user asked, carried out on the right line.

``cloud`` turns space and message actions into requests on lines (routing, quotas);
``routing`` remembers which line serves which chat; ``quotas`` counts and reserves daily
units. A local Mac backend implements the same operations (``SpaceOperations``).
"""
