"""The five models: features, training, manifests, and verified loading of their artifacts.

``models.train`` builds them, ``models.store.ModelStore`` hands them to the checks.
"""
