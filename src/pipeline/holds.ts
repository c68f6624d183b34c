/** Why a node is held back, as `SkipCause.hold`: it belongs to another stage, or --only left it out. */
export const HELD_FOR_STAGE = 'stage';
export const HELD_NOT_SELECTED = 'not selected';
