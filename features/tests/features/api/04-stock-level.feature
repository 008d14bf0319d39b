Feature: Reading a stock level, with or without everything below the location

  Background:
    Given the retail estate

  @api-4
  Scenario: The documented example: a tracked root, a tracked child and an untracked leaf
    Given an estate of:
      | location | parent | roles                    |
      | A        |        | TrackedInventoryLocation |
      | A1       | A      | TrackedInventoryLocation |
      | A2       | A      | Shelf                    |
    And "A" sold 2 "p1" at "2024-01-01T09:00:00"
    And "A" received a delivery of 10 "p1" at "2024-01-02T03:04:05"
    And "A1" received a delivery of 15.5 "p1" at "2024-01-05T00:00:00"
    When I send GET /locations/A/products/p1
    Then the response is 200 with a body like:
      """
      {
        "locationId": "A", "productId": "p1",
        "quantity": 10.0, "pendingAdjustment": -2.0,
        "lastUpdated": "2024-01-02T03:04:05",
        "totalQuantity": 25.5,
        "childLocations": [
          { "locationId": "A1", "quantity": 15.5, "totalQuantity": 15.5 },
          { "locationId": "A2", "totalQuantity": 0.0 }
        ]
      }
      """

  @api-4
  Scenario: An untracked root without children, with children requested
    Given an estate of:
      | location | parent | roles |
      | X        |        | Shop  |
    When I send GET /locations/X/products/p1?includeChildren=true
    Then the response is 200 with a body like:
      """
      {"locationId":"X","productId":"p1","totalQuantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}
      """

  @api-4
  Scenario: An untracked root without children, children not requested
    Given an estate of:
      | location | parent | roles |
      | X        |        | Shop  |
    When I send GET /locations/X/products/p1?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"X","productId":"p1","lastUpdated":"-999999999-01-01T00:00:00"}
      """

  @api-4
  Scenario Outline: includeChildren is true only when absent or equal to "true" in any case: "<query>"
    Given "Central Store" received a delivery of 5 "p1" at "2024-12-07T08:00:00"
    When I send GET /locations/Central%20Store/products/p1<query>
    Then the response is 200 with a body like:
      """
      <body>
      """

    Examples:
      | query                   | body                                                                                                                                                                                                                     |
      |                         | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00","totalQuantity":5.0,"childLocations":[{"locationId":"Till 1","totalQuantity":0.0},{"locationId":"Till 2","totalQuantity":0.0}]} |
      | ?includeChildren=true   | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00","totalQuantity":5.0,"childLocations":[{"locationId":"Till 1","totalQuantity":0.0},{"locationId":"Till 2","totalQuantity":0.0}]} |
      | ?includeChildren=TRUE   | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00","totalQuantity":5.0,"childLocations":[{"locationId":"Till 1","totalQuantity":0.0},{"locationId":"Till 2","totalQuantity":0.0}]} |
      | ?includeChildren=True   | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00","totalQuantity":5.0,"childLocations":[{"locationId":"Till 1","totalQuantity":0.0},{"locationId":"Till 2","totalQuantity":0.0}]} |
      | ?includeChildren=false  | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00"}                                                                                                                      |
      | ?includeChildren=FALSE  | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00"}                                                                                                                      |
      | ?includeChildren=0      | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00"}                                                                                                                      |
      | ?includeChildren=yes    | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00"}                                                                                                                      |
      | ?includeChildren=       | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00"}                                                                                                                      |
      | ?includeChildren=1      | {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00"}                                                                                                                      |

  @api-4 @domain-4
  Scenario: The whole subtree is reported recursively, in the Location API's order, with empty lists left out
    Given "DC01" received a delivery of 150.5 "p1" at "2024-12-07T08:00:00"
    And "WH01" received a delivery of 50 "p1" at "2024-12-07T08:00:00"
    And "WH01 Cold Room" received a delivery of 30 "p1" at "2024-12-07T08:30:00"
    And "WH02" received a delivery of 30.5 "p1" at "2024-12-07T09:00:00"
    And "WH01" sold 60 "p1" at "2024-12-07T10:00:00"
    When I send GET /locations/DC01/products/p1
    Then the response is 200 with a body like:
      """
      {
        "locationId": "DC01", "productId": "p1", "quantity": 150.5,
        "lastUpdated": "2024-12-07T08:00:00", "totalQuantity": 211.0,
        "childLocations": [
          { "locationId": "WH01", "quantity": 0.0, "pendingAdjustment": -10.0, "totalQuantity": 30.0,
            "childLocations": [
              { "locationId": "WH01 Cold Room", "quantity": 30.0, "totalQuantity": 30.0 },
              { "locationId": "warehouse1-untracked", "totalQuantity": 0.0 }
            ] },
          { "locationId": "WH02", "quantity": 30.5, "totalQuantity": 30.5 }
        ]
      }
      """

  @api-4 @domain-4
  Scenario: An untracked location is reported as the aggregate of its descendants, not redirected
    Given "Store-001" received a delivery of 12 "p1" at "2024-12-07T08:00:00"
    And "Central Store" received a delivery of 8 "p1" at "2024-12-07T09:00:00"
    And "Cambridge" received a delivery of 1.5 "p1" at "2024-12-07T10:00:00"
    When I send GET /locations/London/products/p1
    Then the response is 200 with a body like:
      """
      {
        "locationId": "London", "productId": "p1",
        "lastUpdated": "-999999999-01-01T00:00:00", "totalQuantity": 21.5,
        "childLocations": [
          { "locationId": "Store-001", "quantity": 12.0, "totalQuantity": 12.0,
            "childLocations": [ { "locationId": "Untracked-1", "totalQuantity": 0.0 } ] },
          { "locationId": "Central Store", "quantity": 8.0, "totalQuantity": 8.0,
            "childLocations": [ { "locationId": "Till 1", "totalQuantity": 0.0 },
                                { "locationId": "Till 2", "totalQuantity": 0.0 } ] },
          { "locationId": "Café Nord", "quantity": 0.0, "totalQuantity": 0.0,
            "childLocations": [ { "locationId": "Till 9", "totalQuantity": 0.0 } ] },
          { "locationId": "Cambridge", "quantity": 1.5, "totalQuantity": 1.5 },
          { "locationId": "store3", "quantity": 0.0, "totalQuantity": 0.0 },
          { "locationId": "Kiosk 7", "totalQuantity": 0.0 }
        ]
      }
      """

  @api-4
  Scenario: An untracked location without children requested reports only its ids and lastUpdated
    Given "Store-001" received a delivery of 12 "p1" at "2024-12-07T08:00:00"
    When I send GET /locations/London/products/p1?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"London","productId":"p1","lastUpdated":"-999999999-01-01T00:00:00"}
      """

  @api-4
  Scenario: The root's lastUpdated is its own pot's, never a child's
    Given "Central Store" received a delivery of 5 "p1" at "2024-12-01T08:00:00"
    And "Cambridge" received a delivery of 1 "p1" at "2024-12-09T08:00:00"
    When I send GET /locations/UK/products/p1
    Then the response status is 200
    And the stock of "p1" at "Central Store" is 5.0, last updated "2024-12-01T08:00:00"
    And the total of "p1" at "UK" is 6.0
    And the total of "p1" at "London" is 6.0
    And the total of "p1" at "South" is 0.0

  @api-4
  Scenario: A product never seen anywhere reads zero everywhere
    When I send GET /locations/Store-001/products/brand-new
    Then the response is 200 with a body like:
      """
      {"locationId":"Store-001","productId":"brand-new","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00","totalQuantity":0.0,"childLocations":[{"locationId":"Untracked-1","totalQuantity":0.0}]}
      """

  @api-4
  Scenario: An unknown location is not found
    When I send GET /locations/Atlantis/products/p1
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-4 @api-9
  Scenario: Reading at an untracked till is never redirected
    When I send GET /locations/Till%201/products/p1?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"Till 1","productId":"p1","lastUpdated":"-999999999-01-01T00:00:00"}
      """

  @api-4
  Scenario: A location id with a space is reported decoded
    Given "Central Store" received a delivery of 3 "Olive Oil" at "2024-12-07T08:00:00"
    When I send GET /locations/Central%20Store/products/Olive%20Oil?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"Central Store","productId":"Olive Oil","quantity":3.0,"lastUpdated":"2024-12-07T08:00:00"}
      """

  @api-4 @domain-2
  Scenario: A child's pending adjustment is shown but never counted in totals
    Given "Store-001" sold 4 "p1" at "2024-12-07T08:00:00"
    And "Central Store" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When I send GET /locations/London/products/p1
    Then the response status is 200
    And the total of "p1" at "London" is 10.0
    And the stock of "p1" at "Store-001" is 0.0, pending -4.0, last updated "2024-12-07T08:00:00"
