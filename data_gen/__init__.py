"""The synthetic hospital world.

``world`` plans it and draws its patients, ``stays`` what happens to them in hospital (with
``medications``: what they take and the harm drugs do), ``records`` what the hospital records of
it (with ``payments``: the claims); ``generate`` writes it in blocks, ``period`` a next period
under a named shift, ``corrupt`` injects faults, and ``report`` checks the calibration.
"""
