Feature: Tracked locations and totals over the location hierarchy

  Background:
    Given the retail estate

  @domain-4
  Scenario: Tracking comes from a location's own roles, never from its parent
    Given "Central Store" received a delivery of 5 "p1" at "2024-12-07T08:00:00"
    And "p1" at "Till 1" was counted at 3 at "2024-12-07T09:00:00"
    When I send GET /locations/Central%20Store/products/p1
    Then the response is 200 with a body like:
      """
      {"locationId":"Central Store","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T08:00:00","totalQuantity":5.0,
       "childLocations":[{"locationId":"Till 1","totalQuantity":0.0},{"locationId":"Till 2","totalQuantity":0.0}]}
      """

  @domain-4
  Scenario: A role spelled in another case does not make a location tracked
    When I send POST /locations/Kiosk%207/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}

  @domain-4
  Scenario: Repeated roles are ignored
    When I send POST /locations/Cambridge/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201

  @domain-4
  Scenario: Totals add tracked quantities over the whole tree; pending never counts
    Given "Store-001" received a delivery of 12 "p1" at "2024-12-07T08:00:00"
    And "Central Store" sold 3 "p1" at "2024-12-07T09:00:00"
    And "WH01" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    And "WH01 Cold Room" received a delivery of 7.25 "p1" at "2024-12-07T08:00:00"
    Then the total of "p1" at "UK" is 119.25
    And the total of "p1" at "London" is 12.0
    And the total of "p1" at "South" is 107.25
    And the total of "p1" at "Online" is 0.0

  @domain-4
  Scenario: Without children a read reports only the location's own pot
    Given "WH01" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    And "WH01 Cold Room" received a delivery of 7 "p1" at "2024-12-07T08:00:00"
    When I send GET /locations/WH01/products/p1?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"WH01","productId":"p1","quantity":100.0,"lastUpdated":"2024-12-07T08:00:00"}
      """

  @domain-4
  Scenario: Totals follow a reorganised hierarchy at once
    Given "Store-001" received a delivery of 12 "p1" at "2024-12-07T08:00:00"
    And "Central Store" received a delivery of 8 "p1" at "2024-12-07T08:00:00"
    Then the total of "p1" at "London" is 20.0
    And the total of "p1" at "South" is 0.0
    When the estate is reorganised so that "Store-001" comes under "South"
    Then the total of "p1" at "London" is 8.0
    And the total of "p1" at "South" is 12.0
    And the total of "p1" at "UK" is 20.0
    When I send GET /locations/South/products/p1
    Then the response is 200 with a body like:
      """
      {"locationId":"South","productId":"p1","lastUpdated":"-999999999-01-01T00:00:00","totalQuantity":12.0,
       "childLocations":[
         {"locationId":"DC01","quantity":0.0,"totalQuantity":0.0,"childLocations":[
           {"locationId":"WH01","quantity":0.0,"totalQuantity":0.0,"childLocations":[
             {"locationId":"WH01 Cold Room","quantity":0.0,"totalQuantity":0.0},
             {"locationId":"warehouse1-untracked","totalQuantity":0.0}]},
           {"locationId":"WH02","quantity":0.0,"totalQuantity":0.0}]},
         {"locationId":"warehouse1","quantity":0.0,"totalQuantity":0.0,"childLocations":[
           {"locationId":"untracked1","totalQuantity":0.0}]},
         {"locationId":"Store-001","quantity":12.0,"totalQuantity":12.0,"childLocations":[
           {"locationId":"Untracked-1","totalQuantity":0.0}]}]}
      """

  @domain-4 @api-9
  Scenario: A redirect follows the current hierarchy
    Given the estate is reorganised so that "Till 1" comes under "Store-001"
    When I send POST /locations/Till%201/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Store-001/products/p1/sales"

  @domain-4
  Scenario: A location that becomes tracked holds stock from then on
    Given "Till 2" becomes a tracked location
    When I send POST /locations/Till%202/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And the stock of "p1" at "Till 2" is 0.0, pending -1.0, last updated "2024-12-07T12:00:00"

  @domain-4
  Scenario: A location that stops being tracked no longer counts in totals and redirects writes
    Given "Central Store" received a delivery of 8 "p1" at "2024-12-07T08:00:00"
    And "Store-001" received a delivery of 2 "p1" at "2024-12-07T08:00:00"
    When "Store-001" stops being a tracked location
    Then the total of "p1" at "London" is 8.0
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}

  @domain-4
  Scenario: A newly opened location is known at once
    When a location "Store-002" with roles "Shop, TrackedInventoryLocation" opens under "London"
    And "Store-002" receives a delivery of 4 "p1" at "2024-12-07T08:00:00"
    Then the total of "p1" at "London" is 4.0
