"""gcode"""
